// The models a server serves: one session host each, loaded up front (a bad model fails the
// start, not a request), their v2 metadata, and lookup by name and version.

import type * as ort from 'onnxruntime-node';
import { SplitcError } from '../../ir/errors.js';
import { type ModelMetadata, type TensorMetadata, datatypeFromOrt, KServeError } from '../kserve.js';
import { type SessionHost, createSessionHost } from '../session-host.js';
import type { ServerMetrics } from './metrics.js';
import type { InferenceServerOptions, ServerSettings } from './options.js';
import { type SchedulableModel, Scheduler } from './scheduler.js';

export interface ServedModel extends SchedulableModel {
  version: string;
  inputs: TensorMetadata[];
  inputIndex: Map<string, TensorMetadata>;
  /** Most input elements one request may carry (maxRows rows, or maxBodyBytes / 4 when a row's size is not fixed). */
  maxElements: number;
  scheduler: Scheduler;
}

function metaFromOrt(m: ort.InferenceSession.ValueMetadata, where: string): TensorMetadata {
  if (!m.isTensor) throw new SplitcError('E_MODEL_LOAD', `${where} "${m.name}" is not a tensor; the v2 protocol carries tensors only`);
  const datatype = datatypeFromOrt(m.type);
  if (!datatype) throw new SplitcError('E_MODEL_LOAD', `${where} "${m.name}" has element type ${m.type}, which the v2 protocol cannot carry`);
  const shape = m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
  return { name: m.name, datatype, shape };
}

export class ModelTable {
  private constructor(
    /** In the order listed. */
    readonly served: ServedModel[],
    private readonly byName: Map<string, ServedModel[]>,
  ) {}

  /** Loads every model (releasing those already loaded when one fails). */
  static async load(opts: InferenceServerOptions, settings: ServerSettings, metrics: ServerMetrics): Promise<ModelTable> {
    const byName = new Map<string, ServedModel[]>();
    const served: ServedModel[] = [];
    try {
      for (const spec of opts.models) {
        const version = spec.version ?? '1';
        if (!spec.name || /[/\s]/.test(spec.name)) throw new SplitcError('E_BAD_ARGUMENT', `model name ${JSON.stringify(spec.name)} must be non-empty without "/" or spaces`);
        if (byName.get(spec.name)?.some((m) => m.version === version)) {
          throw new SplitcError('E_BAD_ARGUMENT', `model ${spec.name} version ${version} is listed twice`);
        }
        // onnxruntime logs every failed run at error level; those failures are answered to the
        // client, so by default only fatal messages reach the server's stderr.
        // Without the CPU arena a run's buffers are freed after it (with it, a session keeps its
        // largest run's memory for good).
        const sessionOptions = { logSeverityLevel: 4 as const, enableCpuMemArena: false, ...(spec.sessionOptions ?? opts.sessionOptions ?? {}) };
        let host: SessionHost;
        try {
          if (spec.bytes) host = await createSessionHost({ bytes: spec.bytes }, sessionOptions, opts.sessionThread);
          else if (spec.path) host = await createSessionHost({ path: spec.path }, sessionOptions, opts.sessionThread);
          else throw new SplitcError('E_BAD_ARGUMENT', `model ${spec.name}: give a path or bytes`);
        } catch (e) {
          if (e instanceof SplitcError) throw e;
          throw new SplitcError('E_MODEL_LOAD', `onnxruntime could not load model ${spec.name}${spec.path ? ` (${spec.path})` : ''}: ${(e as Error).message}`, {
            cause: e,
          });
        }
        let inputs: TensorMetadata[];
        let outputs: TensorMetadata[];
        try {
          inputs = host.inputMetadata.map((m) => metaFromOrt(m, `model ${spec.name}: input`));
          outputs = host.outputMetadata.map((m) => metaFromOrt(m, `model ${spec.name}: output`));
        } catch (e) {
          await host.release();
          throw e;
        }
        const batchable = [...inputs, ...outputs].every((t) => t.shape.length >= 1 && t.shape[0] === -1);
        // elements of one row (of the whole input when not batchable); NaN when a dim is not fixed
        const rowElements = inputs.reduce((n, t) => n + t.shape.slice(batchable ? 1 : 0).reduce((a, d) => (d < 0 ? NaN : a * d), 1), 0);
        const model: ServedModel = {
          name: spec.name,
          version,
          host,
          inputs,
          outputs,
          inputIndex: new Map(inputs.map((t) => [t.name, t])),
          batchable,
          maxElements: Number.isNaN(rowElements) ? Math.floor(settings.maxBodyBytes / 4) : rowElements * (batchable ? settings.maxRows : 1),
          scheduler: undefined as unknown as Scheduler,
        };
        model.scheduler = new Scheduler(model, settings.maxBatchSize, settings.maxQueueDelayMs, opts.sessionThread === 'main' ? 1 : 2, (n, s) => {
          metrics.batchSize.observe(n, { model: spec.name });
          metrics.runLatency.observe(s, { model: spec.name });
        });
        metrics.waiting.track(() => model.scheduler.waiting, { model: spec.name, version });
        served.push(model);
        byName.set(spec.name, [...(byName.get(spec.name) ?? []), model]);
      }
    } catch (e) {
      await Promise.all(served.map((m) => m.host.release()));
      throw e;
    }
    return new ModelTable(served, byName);
  }

  metadataOf(m: ServedModel): ModelMetadata {
    return {
      name: m.name,
      versions: this.byName.get(m.name)!.map((v) => v.version),
      platform: 'onnxruntime_onnx',
      inputs: m.inputs,
      outputs: m.outputs,
    };
  }

  /** The model by name and version (the last one listed without a version); 404 when there is none. */
  find(name: string, version: string | undefined): ServedModel {
    const versions = this.byName.get(name);
    if (!versions) throw new KServeError(404, 'E_NOT_FOUND', `unknown model "${name.slice(0, 100)}"; serving: ${[...this.byName.keys()].join(', ')}`);
    const m = version === undefined ? versions[versions.length - 1]! : versions.find((v) => v.version === version);
    if (!m) throw new KServeError(404, 'E_NOT_FOUND', `model "${name}" has no version "${version!.slice(0, 40)}"; versions: ${versions.map((v) => v.version).join(', ')}`);
    return m;
  }
}
