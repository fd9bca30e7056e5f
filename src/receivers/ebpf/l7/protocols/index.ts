import type { ProtocolParser } from '../types.js';
import { http1Parser } from './http1/parser.js';
import { memcachedParser } from './memcached/memcached.js';
import { mysqlParser } from './mysql/mysql.js';
import { postgresqlParser } from './postgresql/postgresql.js';
import { redisParser } from './redis/redis.js';

/**
 * Every protocol parser, in detection order (coroot's order for these: HTTP → Postgres → Redis →
 * Memcached → MySQL). One line per parser; each module exports its ProtocolParser.
 */
export const protocolParsers: readonly ProtocolParser[] = [
  http1Parser,
  postgresqlParser,
  redisParser,
  memcachedParser,
  mysqlParser,
];
