#!/usr/bin/env node
// Renders deploy/kubernetes/sonde.yaml from the Helm chart (default values, namespace `sonde`, plus the
// Namespace object) with the Helm built from test/tools/k8s (cached). `npm run deploy:manifest`;
// test/deploy/chart.test.ts fails when the file is out of date.
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { MANIFEST, manifestText, buildK8sTools } from '../dist/test/helpers/k8s-tools.js';

const tools = buildK8sTools();
writeFileSync(MANIFEST, manifestText(tools));
console.log(`${relative(process.cwd(), MANIFEST)} regenerated (helm ${tools.helm})`);
