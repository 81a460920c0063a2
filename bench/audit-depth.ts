// Attack strength against depth on real models and data: `audit()` with the three attacks at
// the five `auto` cuts of
//   - the Fashion-MNIST ResNet (fixtures/models/fashion_mnist_resnet.onnx): probes from the
//     test set, the decoder's auxiliary data from the training set (Debian dataset-fashion-mnist);
//   - the PaddleOCR text-direction classifier: probes are upright text-line crops of page.png,
//     auxiliary data the crops of bw_text.png (fixtures/images, crops as in tests/helpers/text-lines.ts).
// Prints one markdown table per model: per cut, each attack's mean PSNR / SSIM and seconds, the
// risk, and the no-information guess; then whether the issue's claims hold (PSNR ≥ 30 dB at the
// first cut for the white-box attack; at the deepest third of cuts the decoder and the data-free
// attack reach at least the white-box SSIM).
//
//   npx tsx bench/audit-depth.ts [--budget standard] [--models fashion,cls] [--attacks whitebox,decoder,datafree] [--max-probes N]
//
// The defaults are what docs/benchmarks.md records. Results are not cached (each run attacks).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AttackName, Budget } from '../src/audit/types.js';
import { audit } from '../src/pipeline/audit.js';
import { FASHION_MNIST_DIR } from '../src/runtime/train/idx.js';
import { textLineCrops, writeTextLineImages } from '../tests/helpers/text-lines.js';
import { arg } from './lib.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const budget = arg('budget', 'standard') as Budget;
const models = arg('models', 'fashion,cls').split(',');
const attacks = arg('attacks', 'whitebox,decoder,datafree').split(',') as AttackName[];
const maxProbes = process.argv.includes('--max-probes') ? Number(arg('max-probes', '4')) : undefined;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'splitc-audit-depth-'));
const cpu = (os.cpus()[0]?.model ?? '?').trim();

interface Case {
  name: string;
  model: string;
  shapes?: Record<string, (number | string)[]>;
  probe: string;
  aux: string;
  preprocess: string;
}

function cases(): Case[] {
  const out: Case[] = [];
  if (models.includes('fashion')) {
    out.push({
      name: 'Fashion-MNIST ResNet',
      model: path.join(repoRoot, 'fixtures/models/fashion_mnist_resnet.onnx'),
      probe: path.join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'),
      aux: path.join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'),
      preprocess: 'scale=1/255,mean=0.286,std=0.353',
    });
  }
  if (models.includes('cls')) {
    const probe = path.join(tmp, 'probe');
    const aux = path.join(tmp, 'aux');
    fs.mkdirSync(probe);
    fs.mkdirSync(aux);
    const crops = textLineCrops();
    writeTextLineImages(probe, crops.filter((c) => c.source === 'page.png' && !c.rotated));
    writeTextLineImages(aux, crops.filter((c) => c.source === 'bw_text.png'));
    out.push({ name: 'PaddleOCR text-direction classifier', model: path.join(repoRoot, 'fixtures/models/ch_ppocr_mobile_v2.0_cls_infer.onnx'), shapes: { x: ['N', 3, 48, 192] }, probe, aux, preprocess: 'paddleocr-cls' });
  }
  return out;
}

const lines: string[] = [`Attack strength against depth, budget \`${budget}\` (${cpu}, ${os.cpus().length} cores; \`npx tsx bench/audit-depth.ts${process.argv.slice(2).length ? ' ' + process.argv.slice(2).join(' ') : ''}\`):`];
for (const c of cases()) {
  const t0 = performance.now();
  const r = await audit({ model: c.model, ...(c.shapes ? { shapes: c.shapes } : {}), probe: c.probe, aux: c.aux, preprocess: c.preprocess, attacks, budget, ...(maxProbes ? { maxProbes } : {}), cacheDir: null, toolVersion: 'bench' });
  const seconds = (performance.now() - t0) / 1000;
  lines.push('', `**${c.name}** — ${r.report.probes.count} probes; a guess without information (${r.report.baseline.guess}) scores ${r.report.baseline.psnr.toFixed(1)} dB / SSIM ${r.report.baseline.ssim.toFixed(3)}; ${seconds.toFixed(0)} s in all`, '');
  lines.push(`| cut | depth | ${attacks.map((a) => `${a} PSNR / SSIM (s)`).join(' | ')} | risk |`);
  lines.push(`|---|---:|${attacks.map(() => '---:').join('|')}|---|`);
  for (const cut of r.report.cuts) {
    const cells = attacks.map((a) => {
      const o = cut.attacks.find((x) => x.attack === a)!;
      return o.skipped ? `skipped (${o.skipped.code})` : `${o.psnr!.toFixed(1)} dB / ${o.ssim!.toFixed(3)} (${o.seconds.toFixed(1)})`;
    });
    lines.push(`| \`${cut.label}\` | ${(cut.depth * 100).toFixed(0)}% | ${cells.join(' | ')} | ${cut.risk ?? '–'} |`);
  }
  const first = r.report.cuts[0]!.attacks.find((a) => a.attack === 'whitebox');
  const deep = r.report.cuts.slice(Math.floor((2 * r.report.cuts.length) / 3));
  const verdicts: string[] = [];
  if (first?.psnr != null) verdicts.push(`white-box PSNR at the first cut ${first.psnr.toFixed(1)} dB (goal ≥ 30: ${first.psnr >= 30 ? 'met' : 'missed'})`);
  for (const learned of ['decoder', 'datafree'] as const) {
    if (!attacks.includes(learned) || !attacks.includes('whitebox')) continue;
    const rows = deep.map((cut) => {
      const wb = cut.attacks.find((a) => a.attack === 'whitebox')!.ssim ?? 0;
      const l = cut.attacks.find((a) => a.attack === learned)!;
      return { label: cut.label, ok: l.ssim !== null && l.ssim >= wb, l: l.ssim, wb };
    });
    verdicts.push(`${learned} ≥ white-box SSIM at the deepest third: ${rows.map((x) => `${x.label} ${x.l?.toFixed(3) ?? 'skipped'} vs ${x.wb.toFixed(3)} ${x.ok ? '✓' : '✗'}`).join(', ')}`);
  }
  lines.push('', ...verdicts.map((v) => `- ${v}`));
}
console.log(lines.join('\n'));
fs.rmSync(tmp, { recursive: true, force: true });
