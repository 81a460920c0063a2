// The inference server's Prometheus metrics: their names, help texts, labels and buckets.

import { Counter, Gauge, Histogram, Registry } from '../metrics.js';

const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128];

export interface ServerMetrics {
  registry: Registry;
  /** By model and status. */
  inferRequests: Counter;
  /** By endpoint (a route's name) and status. */
  httpRequests: Counter;
  inferLatency: Histogram;
  runLatency: Histogram;
  batchSize: Histogram;
  queueDepth: Gauge;
  waiting: Gauge;
}

export function createServerMetrics(): ServerMetrics {
  const registry = new Registry();
  return {
    registry,
    inferRequests: registry.add(new Counter('splitc_infer_requests_total', 'Inference requests by model and HTTP status.')),
    httpRequests: registry.add(new Counter('splitc_http_requests_total', 'All HTTP requests by endpoint and HTTP status.')),
    inferLatency: registry.add(
      new Histogram('splitc_infer_request_duration_seconds', 'Inference request latency, arrival to last byte written, by model.', LATENCY_BUCKETS_S),
    ),
    runLatency: registry.add(new Histogram('splitc_session_run_duration_seconds', 'Time in onnxruntime session.run, by model.', LATENCY_BUCKETS_S)),
    batchSize: registry.add(new Histogram('splitc_batch_size', 'Requests combined into one session.run, by model.', BATCH_BUCKETS)),
    queueDepth: registry.add(new Gauge('splitc_queue_depth', 'Inference requests held by the server (body arrived: waiting or running).')),
    waiting: registry.add(new Gauge('splitc_queue_waiting', "Requests waiting for their model's session, by model.")),
  };
}
