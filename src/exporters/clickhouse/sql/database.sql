-- Placeholders ({{name}}) are filled by ../schema.ts; identifiers are validated and backquoted there.
CREATE DATABASE IF NOT EXISTS {{database}} {{on_cluster}}
