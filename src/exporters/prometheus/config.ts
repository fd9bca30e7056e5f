import type { Infer } from '../../config/schema.js';
import { s } from '../../config/schema.js';

export const prometheusConfigSchema = s.object({
  endpoint: s.endpoint().describe('host:port the scrape endpoint `/metrics` listens on.'),
  namespace: s.string().describe('Prefix for every metric name (joined with `_`).'),
  const_labels: s.map(s.string()).describe('Labels added to every series.'),
  send_timestamps: s.bool().describe('Expose each sample with the timestamp of its data point.'),
  metric_expiration: s.duration(1000).describe('Series not updated for this long disappear from the endpoint.'),
  enable_open_metrics: s.bool().describe('Serve OpenMetrics 1.0 to scrapers that ask for it (Accept header); text format otherwise.'),
  add_metric_suffixes: s.bool().describe('Add unit and `_total` suffixes to names, as the Collector does.'),
  resource_to_telemetry_conversion: s.object({
    enabled: s.bool().describe('Copy every resource attribute onto each series as a label.'),
  }),
  coroot_compat: s.bool().describe('Add coroot-node-agent labels: `container_id`, `app_id` (from resource attributes), `machine_id`, `system_uuid`.'),
  max_series: s.int({ min: 1 }).describe('Upper bound on exposed series; new series beyond it are dropped and counted.'),
});

export type PrometheusConfig = Infer<typeof prometheusConfigSchema>;

export function createDefaultPrometheusConfig(): PrometheusConfig {
  return {
    endpoint: '0.0.0.0:8889',
    namespace: '',
    const_labels: {},
    send_timestamps: false,
    metric_expiration: 5 * 60_000,
    enable_open_metrics: false,
    add_metric_suffixes: true,
    resource_to_telemetry_conversion: { enabled: false },
    coroot_compat: true,
    max_series: 1_000_000,
  };
}
