import { expect, it } from 'vitest';
import { ByteBudget } from '../../src/runtime/byte-budget.js';

it('refuses what does not fit, grants waiters first come first served, and never lends past the capacity', async () => {
  const b = new ByteBudget(100);
  expect(b.tryTake(60)).toBe(true);
  expect(b.tryTake(50)).toBe(false);
  const order: string[] = [];
  const big = b.take(80).then(() => order.push('big'));
  const small = b.take(10).then(() => order.push('small'));
  // a waiter queues everyone behind it, even what would fit now
  expect(b.tryTake(10)).toBe(false);
  await Promise.resolve();
  expect(order).toEqual([]);
  b.give(60);
  await Promise.all([big, small]);
  expect(order).toEqual(['big', 'small']);
  expect(b.inUse).toBe(90);
  // a request larger than the whole budget takes all of it, once it is free
  const huge = b.take(500);
  b.give(80);
  b.give(10);
  await huge;
  expect(b.inUse).toBe(100);
  b.give(500);
  expect(b.inUse).toBe(0);
});
