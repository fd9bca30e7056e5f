// The image's HEALTHCHECK (docker run; Kubernetes uses the chart's probes): GET /healthz on the
// self-telemetry address the config uses (SONDE_TELEMETRY_ENDPOINT, default 127.0.0.1:8888).
const addr = (process.env.SONDE_TELEMETRY_ENDPOINT || '127.0.0.1:8888').replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:');
try {
  const res = await fetch(`http://${addr}/healthz`, { signal: AbortSignal.timeout(4000) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
