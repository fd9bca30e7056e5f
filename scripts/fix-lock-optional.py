#!/usr/bin/env python3
"""Keeps chdb's per-platform optional packages listed in package-lock.json.

This registry mirror answers 404 for chdb's darwin/arm64 builds, so `npm install` here drops their lock
entries and `npm ci` then rejects the lock as out of sync. Re-adds the entries (optional, os/cpu-gated,
never downloaded on linux-x64). Run after `npm install` changes the lock.
"""
import json

lock = json.load(open('package-lock.json'))
pk = lock['packages']
chdb = pk.get('node_modules/chdb', {})
for name, ver in chdb.get('optionalDependencies', {}).items():
    key = f'node_modules/{name}'
    if key in pk:
        continue
    os_, cpu = ('darwin', 'arm64') if 'darwin-arm64' in name else ('darwin', 'x64') if 'darwin-x64' in name else ('linux', 'arm64') if 'linux-arm64' in name else ('linux', 'x64')
    pk[key] = {'version': ver, 'cpu': [cpu], 'dev': bool(chdb.get('dev')), 'license': 'Apache-2.0', 'optional': True, 'os': [os_]}
    if os_ == 'linux':
        pk[key]['libc'] = ['glibc']
lock['packages'] = dict(sorted(pk.items(), key=lambda kv: (kv[0] != '', kv[0])))
with open('package-lock.json', 'w') as f:
    json.dump(lock, f, indent=2)
    f.write('\n')
