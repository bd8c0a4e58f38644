// Worker ids and the shortcut past a lease's expiry: replicas that share a host name (host networking) and a pid
// (a container's pid 1) are still told apart, and only a dead process whose pid this process can look up — same
// machine, same pid namespace — loses its leases at once; every other owner keeps them until they expire.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { claimMailbox, defaultWorkerId, isDeadLocalProcess, leaseOwner, ledgerName } from '../../src/engine/lease.ts';
import { fixedClock } from '../../src/model/clock.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';

const A = 'a@contoso.edu';
const clock = fixedClock('2026-01-15T12:00:00Z');
const linux = process.platform === 'linux';

/** A pid no process has any more: a child that ran and was reaped. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  return child.pid!;
}

/** The default worker id another calpush process on this machine would have. */
function childWorkerId(): string {
  const lease = pathToFileURL(join(import.meta.dirname, '../../src/engine/lease.ts')).href;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', `console.log((await import(${JSON.stringify(lease)})).defaultWorkerId())`], { encoding: 'utf8' });
  expect(child.stderr).toBe('');
  return child.stdout.trim();
}

const openStore = () => new SqliteStore(join(mkdtempSync(join(tmpdir(), 'calpush-lease-')), 's.sqlite'), { clock });

describe('the default worker id', () => {
  it('is host:pid:nonce (@ the pid namespace where the system says), one per process, another in each process', () => {
    const id = defaultWorkerId();
    expect(id).toBe(defaultWorkerId());
    const shape = linux ? /^(.+):(\d+):([0-9a-f]{8})@([0-9a-f]{8})$/ : /^(.+):(\d+):([0-9a-f]{8})(@[0-9a-f]{8})?$/;
    expect(id).toMatch(shape);
    const [, host, pid] = shape.exec(id)!;
    expect([host, Number(pid)]).toEqual([hostname(), process.pid]);
    const other = childWorkerId();
    expect(other).toMatch(shape);
    // The nonce tells processes apart; the same machine and pid namespace, the same marker.
    expect(shape.exec(other)![3]).not.toBe(shape.exec(id)![3]);
    expect(shape.exec(other)![4]).toBe(shape.exec(id)![4]);
  });

  it("names the ledger's spender afresh each time, under the worker id", () => {
    expect(ledgerName('worker-a')).toMatch(/^worker-a#[0-9a-f]{8}$/);
    expect(ledgerName('worker-a')).not.toBe(ledgerName('worker-a'));
  });
});

describe.runIf(linux)('a lease whose holder is gone', () => {
  const ours = defaultWorkerId().split('@')[1]!;
  const otherNamespace = ours === '00000000' ? '11111111' : '00000000';

  it('is taken over at once when the holder was a calpush process of this pid namespace on this machine', async () => {
    const store = openStore();
    const gone = `${hostname()}:${deadPid()}:0123abcd@${ours}`;
    expect(isDeadLocalProcess(gone)).toBe(true);
    // The watch's and the agent's leases of a dead worker too (engine/lease.ts leaseOwner).
    expect(isDeadLocalProcess(leaseOwner(gone, 'watch'))).toBe(true);
    expect(isDeadLocalProcess(leaseOwner(gone, 'agent'))).toBe(true);
    expect(isDeadLocalProcess(`${gone}/other`)).toBe(false);
    const left = (await store.claimMailbox(A, gone, 60_000))!;
    const lease = await claimMailbox(store, A, defaultWorkerId(), 60_000);
    expect(lease).toMatchObject({ owner: defaultWorkerId() });
    expect(lease!.token).toBeGreaterThan(left.token);
    await store.close();
  });

  it('is taken over at once when the holder was the resource agent of such a process (its id with /agent after it)', async () => {
    const store = openStore();
    const gone = `${hostname()}:${deadPid()}:0123abcd@${ours}/agent`;
    expect(isDeadLocalProcess(gone)).toBe(true);
    expect(isDeadLocalProcess(`${hostname()}:${process.pid}:0123abcd@${ours}/agent`)).toBe(false);
    expect(isDeadLocalProcess(`${hostname()}:${deadPid()}:0123abcd@${ours}/other`)).toBe(false);
    await store.claimMailbox(A, gone, 60_000);
    expect(await claimMailbox(store, A, `${defaultWorkerId()}/agent`, 60_000)).toMatchObject({ owner: `${defaultWorkerId()}/agent` });
    await store.close();
  });

  it('is left to expire when this process cannot look its pid up: another container with our host name, an id of an older calpush, an operator\'s id', async () => {
    const store = openStore();
    const pid = deadPid();
    const owners = [
      // A replica in another pid namespace with our host name (host networking): its pid says nothing here.
      `${hostname()}:${pid}:0123abcd@${otherNamespace}`,
      // Without a namespace (not Linux, or an older calpush's host:pid): nothing says which pids it means.
      `${hostname()}:${pid}:0123abcd`,
      `${hostname()}:${pid}`,
      // An operator's --worker-id.
      'worker-a',
    ];
    for (const owner of owners) {
      expect(isDeadLocalProcess(owner)).toBe(false);
      await store.releaseMailbox(A, (await store.leaseHolder(A)) ?? '');
      await store.claimMailbox(A, owner, 60_000);
      expect(await claimMailbox(store, A, defaultWorkerId(), 60_000)).toBeNull();
      expect(await store.leaseHolder(A)).toBe(owner);
    }
    await store.close();
  });

  it('of a live process is kept, also in our own namespace', async () => {
    expect(isDeadLocalProcess(`${hostname()}:${process.pid}:0123abcd@${ours}`)).toBe(false);
  });

  it("is an operator's fixed --worker-id's own again when that worker comes back before it expired", async () => {
    const store = openStore();
    const before = (await store.claimMailbox(A, 'worker-a', 60_000))!;
    expect(await claimMailbox(store, A, 'worker-a', 60_000)).toEqual(before);
    await store.close();
  });
});
