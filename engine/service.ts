// The container service: image + options -> snapshot + bundle -> container under a monitor.
// The CLI, the CRI server and the Docker API all call this one class, so they behave the same.
import fs from 'node:fs';
import path from 'node:path';
import { BerthError, alreadyExists, failedPrecondition, invalidArgument, notFound } from '../lib/errors.js';
import { writeJsonAtomic, writeJsonAtomicAsync, readJson } from '../lib/atomic-write.js';
import { lockFile, withLockAsync } from '../lib/file-lock.js';
// Modules, not the image/ and snapshotter/ barrels: a run loads no registry, TLS, archive or layer
// apply code unless it pulls or unpacks (those are imported when needed).
import { ImageService } from '../image/images.js';
import type { PullEvent } from '../image/pull.js';
import type { RegistryOptions } from '../image/registry.js';
import { parsePlatform } from '../image/platform.js';
import { containerConfig, type ContainerConfig } from '../image/container-config.js';
import { openSnapshotter } from '../snapshotter/open.js';
import { mountAll, transientMounts, unmountAll } from '../snapshotter/mount.js';
import type { Snapshotter } from '../snapshotter/types.js';
import { Monitor, MONITOR_DIED, createContainer as createUnderMonitor, type ExitStatus, type AttachStreams } from '../shim/index.js';
import { hostCapabilities } from './host-capabilities.js';
import { hostDevices } from './host-devices.js';
import { defaultSeccompProfile } from '../runtime/seccomp/default-profile.js';
import { buildSpec, computeCapabilities, mergeEnv, type ContainerOptions } from './build-spec.js';
import { checkContainerRecord, timed, type ContainerRecord, type TimelineEntry } from './container-record.js';
import { writeEtcFiles } from './etc-files.js';
import { resolveUser } from './resolve-user.js';
import { Layout, type EngineConfig } from './layout.js';
import { REPO_ROOT } from '../lib/paths.js';
import { NetworkManager, type NetworkSetup, type PortMappingInput } from './network/index.js';
import { generateName, newContainerId, validateName } from './names.js';
import { NameIndex } from './name-index.js';
import { needsCleanup, noteUserStop, restartView, waitStopped } from './container-exit.js';
import { opTimer } from '../lib/op-timer.js';
import { discardCgroup, prepareCgroup } from './cgroup-prepare.js';
import { oomEventsFile } from '../runtime/cgroups/index.js';
import { finishInterruptedRemovals } from './interrupted-removals.js';

export type PullPolicy = 'missing' | 'always' | 'never';

export interface CreateRequest extends Omit<ContainerOptions, 'id' | 'rootfs' | 'containerDir' | 'seccomp' | 'network'> {
  /** none, host, bridge (a CNI network of its own, engine/network), or an existing namespace */
  network?: ContainerOptions['network'] | 'bridge';
  /** host ports published to the container (bridge network only): -p [ip:]host:container[/proto] */
  publish?: PortMappingInput[];
  image?: string;              // an image reference, or
  rootfsDir?: string;          // podman's --rootfs: run a directory as it is (no image, no snapshot)
  name?: string;
  pull?: PullPolicy;
  platform?: string;
  registry?: RegistryOptions;
  onPullEvent?: (e: PullEvent) => void;
  autoRemove?: boolean;
  /** with stdin: the first attach client to leave closes it (CRI stdin_once, Docker StdinOnce); default: stdin */
  stdinOnce?: boolean;
  restartPolicy?: 'no' | 'on-failure' | 'always' | 'unless-stopped';
  /** on-failure:N (0: no limit); kept in the record's options */
  restartMaxRetries?: number;
  stopSignal?: string;
  stopTimeout?: number;
  /** 'default' (Docker's profile), 'unconfined', or a profile in the runtime-spec shape */
  seccompProfile?: 'default' | 'unconfined' | ContainerOptions['seccomp'];
  /** where the monitor writes the CRI-format log (CRI: log_directory/log_path); default: in the container's dir */
  logPath?: string;
  /** named volumes: name:/path[:ro] become binds of <root>/volumes/<name>/_data */
  volumes?: { name: string; destination: string; readonly?: boolean }[];
  /**
   * bridge: create returns while the network is still being set up, and start waits for it (Docker
   * gives a container its address at start too). Only for a caller that outlives the create (a server):
   * the setup runs in this process.
   */
  networkAtStart?: boolean;
}

/** 'restarting': a restart policy is about to start it again (engine/container-exit.ts) */
export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'exited' | 'dead';

export interface ContainerView {
  record: ContainerRecord;
  status: ContainerStatus;
  pid?: number;
  exit?: ExitStatus;
  /** restarts begun by the restart policy */
  restartCount?: number;
}

const SNAPSHOT_PREFIX = 'container/';

export class ContainerService {
  readonly layout: Layout;
  readonly images: ImageService;
  readonly names: NameIndex;
  private sn?: Snapshotter;

  constructor(readonly cfg: EngineConfig) {
    this.layout = new Layout(cfg);
    this.images = new ImageService(cfg.root);
    this.names = new NameIndex(this.layout.namesDir, (id) => this.layout.recordFile(id));
  }

  get snapshotter(): Snapshotter {
    this.sn ??= openSnapshotter(this.layout.snapshots, this.cfg.snapshotter ?? 'auto');
    return this.sn;
  }

  private nm?: NetworkManager;
  /** Network setups begun by a create with networkAtStart, until the container's start takes them. */
  private readonly pendingNetworks = new Map<string, Promise<NetworkSetup>>();
  /** CNI networking for `--network bridge`: results under <root>/network, namespaces under <state>/netns. */
  network(): NetworkManager {
    this.nm ??= new NetworkManager({
      dataDir: this.layout.networkData, netnsDir: this.layout.netnsDir,
      confDir: this.cfg.cniConfDir ?? process.env.BERTH_CNI_CONF_DIR,
    });
    return this.nm;
  }

  // ---- records ------------------------------------------------------------------------
  private readRecord(id: string): ContainerRecord {
    const f = this.layout.recordFile(id);
    let raw: unknown;
    try { raw = readJson(f); } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`no such container: ${id}`);
      throw new BerthError('DATA_LOSS', `${f} cannot be read: ${(e as Error).message}`);
    }
    return checkContainerRecord(raw, f);
  }

  /**
   * `durable: false` for what a run adds (startedAt, the timeline): after an OS crash, losing it
   * only shows the container as created, not started, which it is then (no monitor survives one).
   */
  private writeRecord(r: ContainerRecord, opts: { durable?: boolean } = {}): void {
    writeJsonAtomic(this.layout.recordFile(r.id), r, 0o644, opts);
  }

  /** The ids of containers with a record (those starting with `prefix`, if given). */
  ids(prefix = ''): string[] {
    try {
      return fs.readdirSync(this.layout.containers)
        .filter((n) => n.startsWith(prefix) && /^[a-f0-9]{64}$/.test(n) && fs.existsSync(this.layout.recordFile(n)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  records(): ContainerRecord[] {
    const out: ContainerRecord[] = [];
    for (const id of this.ids()) {
      try { out.push(this.readRecord(id)); } catch { /* removed meanwhile or damaged: skip in listings */ }
    }
    return out;
  }

  /**
   * A full id, a name, or a unique id prefix (in that order). Its cost does not grow with the number
   * of containers: a name is one index entry, a prefix one readdir.
   */
  resolve(idOrName: string): ContainerRecord {
    const q = idOrName.startsWith('/') ? idOrName.slice(1) : idOrName;
    if (!q) throw invalidArgument('container name or id cannot be empty');
    if (/^[a-f0-9]{64}$/.test(q) && fs.existsSync(this.layout.recordFile(q))) return this.readRecord(q);
    const byName = this.byName(q);
    if (byName) return byName;
    if (/^[a-f0-9]+$/.test(q)) {
      const hits = this.ids(q);
      if (hits.length > 1) throw invalidArgument(`container id prefix ${q} is ambiguous (${hits.length} matches)`);
      if (hits.length === 1) {
        try { return this.readRecord(hits[0]); } catch (e) {
          if (!(e instanceof BerthError && e.code === 'NOT_FOUND')) throw e; // removed meanwhile
        }
      }
    }
    throw notFound(`no such container: ${idOrName}`);
  }

  private byName(name: string): ContainerRecord | undefined {
    if (!this.names.exists() && !this.buildNames()) return this.records().find((r) => r.name === name);
    const id = this.names.lookup(name);
    if (!id) return undefined;
    try {
      const r = this.readRecord(id);
      return r.name === name ? r : undefined;
    } catch (e) {
      if (e instanceof BerthError && e.code === 'NOT_FOUND') return undefined; // removed meanwhile
      throw e;
    }
  }

  /**
   * Indexes a root made by a berth without the index. Only if the names lock is free at once: a
   * blocking flock would stall a daemon's event loop, or wait forever on its own create's lock. When
   * it is not (or the root is not writable), this lookup scans the records instead.
   */
  private buildNames(): boolean {
    let lock;
    try { lock = lockFile(this.layout.namesLock, { wait: false }); } catch { return false; }
    try {
      if (!this.names.exists()) this.names.build(this.records());
      return true;
    } finally {
      lock.release();
    }
  }

  /** Drops a removed (or never completed) container's name from the index. */
  private releaseName(name: string, id: string): Promise<void> {
    return withLockAsync(this.layout.namesLock, async () => this.names.release(name, id));
  }

  // ---- status -------------------------------------------------------------------------
  private monitor(r: ContainerRecord): Monitor | undefined {
    const dir = this.layout.monitorDir(r.id);
    if (!fs.existsSync(path.join(dir, 'session.json'))) return undefined;
    try {
      return Monitor.load(dir);
    } catch (e) {
      // session.json is written without fsync (shim/session.ts): an OS crash may leave it empty, and
      // no monitor outlives one, so the container reads as never started (and can be started again).
      if (e instanceof BerthError && e.code === 'DATA_LOSS') return undefined;
      throw e;
    }
  }

  view(r: ContainerRecord): ContainerView {
    const m = this.monitor(r);
    const exit = m?.exitStatus();
    const rs = restartView(this, r, m, exit);
    const count = rs.restartCount ? { restartCount: rs.restartCount } : {};
    if (!m) return { record: r, status: rs.restarting ? 'restarting' : 'created', ...count };
    if (exit) return { record: r, status: rs.restarting ? 'restarting' : 'exited', exit, ...count };
    if (!m.isRunning()) {
      // a policy restart's new monitor that has not reported yet
      if (rs.restarting) return { record: r, status: 'restarting', ...count };
      // The monitor is gone without writing an exit status: say so instead of hanging forever.
      return { record: r, status: 'exited', exit: { exitCode: 255, signal: null, exitedAt: new Date().toISOString(), reason: MONITOR_DIED } };
    }
    const paused = frozenState(m.pid) === 'paused';
    return { record: r, status: paused ? 'paused' : 'running', pid: m.pid, ...count };
  }

  list(opts: { all?: boolean } = {}): ContainerView[] {
    const v = this.records().map((r) => this.view(r));
    return (opts.all ? v : v.filter((x) => x.status === 'running' || x.status === 'paused' || x.status === 'restarting'))
      .sort((a, b) => b.record.created.localeCompare(a.record.created));
  }

  inspect(idOrName: string): ContainerView & { monitorDir: string; logPath: string } {
    const r = this.resolve(idOrName);
    return { ...this.view(r), monitorDir: this.layout.monitorDir(r.id), logPath: logPathOf(r) ?? this.layout.logPath(r.id) };
  }

  /**
   * A hint that containers will join their cgroups shortly (engine/cgroup-prefetch.ts): a front end
   * that knows it before create (a pod's start) gives the kernel's grace period a head start.
   */
  expectCgroupJoins(): void {
    this.cfg.cgroupPrefetch?.kick();
  }

  /**
   * Starts making the cgroup dirs of a container about to be created with this (absolute) cgroupsPath:
   * a front end that knows it before create (a pod's, whose new pod cgroup costs several ms) gains
   * that much more. create() waits for it; remove() takes away what is left unused.
   */
  prepareCgroup(cgroupsPath: string): void {
    prepareCgroup(cgroupsPath, 'prepared');
  }

  /** Undoes prepareCgroup when no container was created with that path. */
  discardCgroup(cgroupsPath: string): void {
    discardCgroup(cgroupsPath, 'prepared');
  }

  // ---- create -------------------------------------------------------------------------
  async create(req: CreateRequest): Promise<ContainerRecord> {
    this.cfg.cgroupPrefetch?.kick();
    this.layout.ensure();
    if (!req.image && !req.rootfsDir) throw invalidArgument('an image or a root filesystem directory (--rootfs) is required');
    if (req.image && req.rootfsDir) throw invalidArgument('give an image or --rootfs, not both');
    const timeline: TimelineEntry[] = [];
    const id = newContainerId();
    const dir = this.layout.containerDir(id);
    const tm = opTimer('engine', 'create', id.slice(0, 12));
    const cgroupsPath = req.cgroupsPath ?? defaultCgroupsPath(id);

    // Reserve the name and the directory under one lock so two creates cannot take the same name.
    const name = await withLockAsync(this.layout.namesLock, async () => {
      if (!this.names.exists()) this.names.build(this.records());
      const taken = (x: string) => this.names.lookup(x) !== undefined;
      const n = req.name ? validateName(req.name) : generateName(taken);
      if (taken(n)) throw alreadyExists(`the container name "${n}" is already in use`);
      // The entry first: until the record below exists it counts as free (name-index.ts).
      this.names.reserve(n, id);
      try {
        fs.mkdirSync(dir, { mode: 0o711 });
        const placeholder: ContainerRecord = { id, name: n, image: req.image ?? req.rootfsDir!, created: new Date().toISOString(), bundle: dir, rootfs: '', labels: {}, timeline: [] };
        // Not synced: lost to an OS crash, the directory without a record is a stale create, reclaimed by the next.
        this.writeRecord(placeholder, { durable: false });
      } catch (e) {
        fs.rmSync(dir, { recursive: true, force: true });
        this.names.release(n, id);
        throw e;
      }
      return n;
    });
    tm.mark('name');
    // made once the name is ours (a create refused for it leaves nothing); undone by the catch below
    prepareCgroup(cgroupsPath, id);

    let mounted = false;
    let snapshotKey: string | undefined;
    let networked = false;
    // Started, not awaited, so their fsyncs (on the libuv pool) overlap each other and the spec's
    // building; every one of them is settled before the catch below undoes anything.
    let mounting: Promise<void> | undefined;
    let configWritten: Promise<void> | undefined;
    try {
      if (req.publish?.length && req.network !== 'bridge') throw invalidArgument('publishing ports (-p) needs --network bridge');
      // The network (an exec or CNI's) comes up while the image is resolved and its snapshot mounted.
      const netSetup = req.network === 'bridge' ? this.network().setupNetwork({ id, portMappings: req.publish }) : undefined;
      if (netSetup) {
        networked = true;
        netSetup.catch(() => undefined); // awaited below; a failure before that is torn down by the catch
      }
      let imageCfg: Partial<ContainerConfig> = {};
      let imageId: string | undefined;
      let rootfs: string;
      if (req.image) {
        const img = await timed(timeline, 'resolve', () => this.resolveImage(req, timeline));
        tm.mark('resolve');
        imageCfg = containerConfig(img.config);
        imageId = img.id;
        const top = img.topChainId;
        if (!top) throw failedPrecondition(`image ${req.image} has no layers`);
        await timed(timeline, 'unpack', () => this.ensureUnpacked(img.layers));
        snapshotKey = `${SNAPSHOT_PREFIX}${id}`;
        rootfs = this.layout.rootfs(id);
        fs.mkdirSync(rootfs);
        const key = snapshotKey, target = rootfs;
        mounting = timed(timeline, 'mount', async () => {
          const mounts = await this.snapshotter.prepare(key, top, { 'berth.container': id });
          mountAll(req.autoRemove ? transientMounts(mounts) : mounts, target);
          mounted = true;
        });
        mounting.catch(() => undefined); // awaited below
      } else {
        rootfs = path.resolve(req.rootfsDir!);
        if (!fs.statSync(rootfs, { throwIfNoEntry: false })?.isDirectory()) throw invalidArgument(`--rootfs ${rootfs} is not a directory`);
      }

      const hostname = hostnameOf(id, req.hostname);
      const hostNetwork = req.network === 'host';
      let network: ContainerOptions['network'] = req.network === 'bridge' ? undefined : req.network;
      let ip: string | undefined;
      if (netSetup && req.networkAtStart) {
        // the namespace's path is known before it exists: the runtime's create (at start) needs the file
        network = { netnsPath: this.network().netnsFor(id).path };
        this.pendingNetworks.set(id, netSetup);
      } else if (netSetup) {
        const setup = await netSetup;
        network = { netnsPath: setup.netnsPath };
        ip = setup.ip;
      }
      tm.mark('network');
      writeEtcFiles(dir, { hostname, hostNetwork, ip });
      const binds = [...(req.binds ?? [])];
      for (const v of req.volumes ?? []) binds.push({ source: this.volumePath(v.name), destination: v.destination, readonly: v.readonly });
      // The default seccomp profile opens syscalls for the capabilities the container has (as moby does).
      const caps = computeCapabilities(req, hostCapabilities());
      const seccomp = req.privileged || req.seccompProfile === 'unconfined' ? undefined
        : req.seccompProfile && req.seccompProfile !== 'default' ? req.seccompProfile : defaultSeccompProfile(caps);
      // The spec resolves user and group names through the rootfs's /etc/passwd and /etc/group.
      await mounting;
      tm.mark('mount');
      const spec = buildSpec(imageCfg, {
        ...req, network, id, rootfs, containerDir: dir, hostname, binds, seccomp,
        // docker: a privileged container gets every host device (and rwm on all of them)
        ...(req.privileged ? { devices: [...(req.devices ?? []), ...hostDevices()] } : {}),
        labels: { ...(imageCfg.labels ?? {}), ...(req.labels ?? {}) },
      }, hostCapabilities());
      configWritten = writeJsonAtomicAsync(path.join(dir, 'config.json'), spec);
      configWritten.catch(() => undefined); // awaited below
      tm.mark('spec');
      await configWritten;
      tm.mark('config');
      const record: ContainerRecord = {
        id, name, image: req.image ?? rootfs, ...(imageId ? { imageId } : {}), created: new Date().toISOString(),
        ...(snapshotKey ? { snapshotKey } : {}), bundle: dir, rootfs,
        labels: { ...(imageCfg.labels ?? {}), ...(req.labels ?? {}) },
        tty: Boolean(req.tty), stdin: Boolean(req.stdin), ...(req.stdinOnce !== undefined ? { stdinOnce: req.stdinOnce } : {}), autoRemove: Boolean(req.autoRemove),
        restartPolicy: req.restartPolicy ?? 'no', stopSignal: req.stopSignal ?? imageCfg.stopSignal ?? 'SIGTERM',
        stopTimeout: req.stopTimeout ?? 10, options: publicOptions(req), timeline, restartCount: 0,
        args: [...(spec.process?.args ?? [])],
        ...(req.network === 'bridge' ? { network: 'bridge', ...(ip ? { ip } : {}) } : {}),
      };
      // The complete record, durably, last: it names a bundle and a mounted snapshot that exist. Its
      // fsync on the pool: other requests (a pod's pause start, its network) go on meanwhile.
      await writeJsonAtomicAsync(this.layout.recordFile(id), record);
      tm.mark('record');
      tm.end();
      return record;
    } catch (e) {
      await Promise.allSettled([mounting, configWritten]);
      if (mounted) try { unmountAll(this.layout.rootfs(id)); } catch { /* best effort: rm retries */ }
      if (snapshotKey) await this.snapshotter.remove(snapshotKey).catch(() => undefined);
      if (networked) {
        this.pendingNetworks.delete(id);
        await this.network().teardownNetwork(id).catch(() => undefined); // after the setup: serialized per id
      }
      fs.rmSync(dir, { recursive: true, force: true });
      await this.releaseName(name, id).catch(() => undefined); // else stale: free all the same
      discardCgroup(cgroupsPath, id);
      throw e;
    }
  }

  private async resolveImage(req: CreateRequest, timeline: TimelineEntry[]) {
    const ref = req.image!;
    const policy = req.pull ?? 'missing';
    if (policy !== 'always') {
      try { return this.images.resolve(ref); } catch (e) {
        if (!(e instanceof BerthError && e.code === 'NOT_FOUND') || policy === 'never') throw e;
      }
    }
    await timed(timeline, 'pull', () => this.pull(ref, { platform: req.platform, registry: req.registry, onEvent: req.onPullEvent }));
    return this.images.resolve(ref);
  }

  /** Pull and unpack an image (what `berth pull` does too). */
  async pull(ref: string, o: { platform?: string; registry?: RegistryOptions; onEvent?: (e: PullEvent) => void } = {}) {
    const sn = this.snapshotter;
    const [{ pull }, { unpackLayers }] = await Promise.all([import('../image/pull.js'), import('../snapshotter/unpack.js')]);
    return pull(this.cfg.root, ref, {
      ...(o.registry ?? {}),
      platform: o.platform ? parsePlatform(o.platform) : undefined,
      onEvent: o.onEvent,
      unpack: async (layers, openBlob) => (await unpackLayers(sn, layers, openBlob)).chainId,
    });
  }

  private async ensureUnpacked(layers: { digest: string; mediaType: string; diffId: string; size: number; chainId: string }[]) {
    const top = layers[layers.length - 1];
    if (await this.snapshotter.stat(top.chainId)) return;
    const { unpackLayers } = await import('../snapshotter/unpack.js');
    await unpackLayers(this.snapshotter, layers, (d) => this.images.content.openBlob(d));
  }

  volumePath(name: string): string {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw invalidArgument(`invalid volume name ${JSON.stringify(name)}`);
    const p = path.join(this.layout.volumes, name, '_data');
    fs.mkdirSync(p, { recursive: true, mode: 0o755 });
    return p;
  }

  // ---- start / attach -----------------------------------------------------------------
  /**
   * Runs the container under a fresh monitor. `beforeStart` gets the monitor after the runtime's
   * create and before start, so an attach there misses no output.
   */
  /**
   * `removeGraceSec`: a caller that stays attached and removes the container itself (`run --rm`)
   * gives the monitor's exit command this long before it removes it, so the two do not both spend
   * a CLI start on one removal; the exit command only matters if the caller died.
   */
  async start(idOrName: string, opts: { beforeStart?: (m: Monitor) => Promise<void>; ttySize?: { rows: number; cols: number }; removeGraceSec?: number } = {}): Promise<Monitor> {
    this.cfg.cgroupPrefetch?.kick();
    const r = this.resolve(idOrName);
    const tm = opTimer('engine', 'start', r.id.slice(0, 12));
    const v = this.view(r);
    if (v.status === 'running' || v.status === 'paused') throw failedPrecondition(`container ${r.name} is already ${v.status}`);
    tm.mark('view');
    const timeline = [...(r.timeline ?? [])].filter((t) => t.phase !== 'create' && t.phase !== 'start');
    await this.ensureRootfs(r);
    const mdir = this.layout.monitorDir(r.id);
    if (v.status !== 'created' || fs.existsSync(mdir)) await this.cleanupRuntime(r);
    fs.rmSync(mdir, { recursive: true, force: true });
    tm.mark('rootfs');
    // berth's own runtime: the monitor's `berth-runtime create` is then served by this warm process.
    if (this.layout.runtimePath() === path.join(REPO_ROOT, 'bin', 'berth-runtime')) {
      const { embedPlanner } = await import('../runtime/planner/embedded.js');
      await embedPlanner(this.layout.cfg.state);
    }
    tm.mark('planner');
    await this.networkAtStart(r);
    tm.mark('network');
    // a restart's cleanup above removed the cgroup: made again before the monitor starts
    prepareCgroup(cgroupsPathOf(r), r.id);
    const m = await timed(timeline, 'create', () => createUnderMonitor({
      id: r.id, bundle: r.bundle, ...this.engineRuntime(),
      dir: mdir, logPath: logPathOf(r) ?? this.layout.logPath(r.id), tty: r.tty, stdin: r.stdin, stdinOnce: r.stdinOnce ?? r.stdin, ttySize: opts.ttySize,
      oomFile: oomEventsFile(cgroupsPathOf(r), r.id),
      exitCommand: this.exitCommand(r, opts.removeGraceSec ?? 0), monitors: this.cfg.monitorStandby,
    })).catch((e: unknown) => {
      // the runtime's failed create undid its own; the dirs made above are ours to take back
      discardCgroup(cgroupsPathOf(r), r.id);
      throw e;
    });
    tm.mark('monitor+create');
    try {
      if (opts.beforeStart) await opts.beforeStart(m);
      tm.mark('before-start');
      await timed(timeline, 'start', () => this.runtimeStart(m));
      tm.mark('runtime-start');
    } catch (e) {
      await this.runtimeDelete(m).catch(() => undefined);
      throw e;
    }
    this.writeRecord({ ...this.readRecord(r.id), timeline, startedAt: new Date().toISOString() }, { durable: false });
    tm.mark('record');
    tm.end();
    return m;
  }

  /**
   * A bridge container created with networkAtStart has no address yet: its setup (begun by the create
   * in this process) is awaited; one begun elsewhere is read from the network's record, and one that
   * never finished (its creator died) is undone and made again. The address then goes into the record
   * and the container's hosts file (bind-mounted by the runtime's create, which comes after).
   */
  private async networkAtStart(r: ContainerRecord): Promise<void> {
    if (r.network !== 'bridge' || r.ip) return;
    const pending = this.pendingNetworks.get(r.id);
    let setup: NetworkSetup;
    if (pending) {
      this.pendingNetworks.delete(r.id);
      setup = await pending;
    } else {
      const nm = this.network();
      try {
        setup = nm.networkStatus(r.id);
      } catch (e) {
        if (!(e instanceof BerthError && e.code === 'NOT_FOUND')) throw e;
        await nm.teardownNetwork(r.id);
        setup = await nm.setupNetwork({ id: r.id, portMappings: (r.options as { publish?: PortMappingInput[] } | undefined)?.publish });
      }
    }
    writeEtcFiles(r.bundle, { hostname: hostnameOf(r.id, (r.options as { hostname?: string } | undefined)?.hostname), hostNetwork: false, ip: setup.ip });
    r.ip = setup.ip;
    if (setup.ip) this.writeRecord({ ...this.readRecord(r.id), ip: setup.ip }, { durable: false });
  }

  /** The monitor's exit command: `berth container cleanup <id>` when an exit needs handling (--rm, --restart). */
  private exitCommand(r: ContainerRecord, graceSec: number): string[] | undefined {
    if (!needsCleanup(r)) return undefined;
    const cmd = [...this.layout.cleanupCommand(), r.id];
    if (!r.autoRemove || !(graceSec > 0)) return cmd;
    // sh -c SCRIPT $0=grace $1=dir CMD...: wait, and run the removal only if the container is still there
    return ['/bin/sh', '-c', 'sleep "$0"; [ -e "$1" ] || exit 0; shift; exec "$@"', String(graceSec), this.layout.recordFile(r.id), ...cmd];
  }

  /** The monitor of a container that has been started at least once. */
  monitorOf(idOrName: string): Monitor {
    const r = this.resolve(idOrName);
    const m = this.monitor(r);
    if (!m) throw failedPrecondition(`container ${r.name} has never been started`);
    return m;
  }

  async attach(idOrName: string): Promise<AttachStreams> {
    const r = this.resolve(idOrName);
    const v = this.view(r);
    if (v.status !== 'running') throw failedPrecondition(`cannot attach to a ${v.status} container: start it first`);
    return this.monitorOf(r.id).attach();
  }

  private async ensureRootfs(r: ContainerRecord): Promise<void> {
    if (!r.snapshotKey) return;
    if (isMountPoint(r.rootfs)) return;
    // after a reboot the mount is gone but the snapshot is on disk
    const mounts = await this.snapshotter.mounts(r.snapshotKey);
    fs.mkdirSync(r.rootfs, { recursive: true });
    mountAll(r.autoRemove ? transientMounts(mounts) : mounts, r.rootfs);
  }

  // ---- stop / kill / wait -------------------------------------------------------------
  /** As with dockerd, a killed container counts as stopped by the user: its policy does not restart it. */
  async kill(idOrName: string, signal: string | number = 'SIGKILL'): Promise<void> {
    const r = this.resolve(idOrName);
    const v = this.view(r);
    if (v.status !== 'running' && v.status !== 'paused') throw failedPrecondition(`container ${r.name} is not running`);
    await noteUserStop(this, r, 'stop');
    await this.runtimeSignal(this.monitorOf(r.id), signal);
  }

  /** Until the container has stopped for good: through restarts its restart policy makes. */
  async wait(idOrName: string, opts: { signal?: AbortSignal } = {}): Promise<ExitStatus> {
    return waitStopped(this, this.resolve(idOrName), opts);
  }

  /**
   * StopSignal, then SIGKILL after `timeout` seconds (docker stop). The restart policy does not
   * restart what a user stopped; `restarting`: the caller starts it again itself.
   */
  async stop(idOrName: string, timeoutSec?: number, opts: { restarting?: boolean } = {}): Promise<ExitStatus | undefined> {
    const r = this.resolve(idOrName);
    await noteUserStop(this, r, opts.restarting ? 'restart' : 'stop');
    const v = this.view(r);
    if (v.exit?.reason === MONITOR_DIED) {
      // Nobody reaps the container any more: the runtime's forced delete kills what is left of it.
      await this.cleanupRuntime(r);
      return v.exit;
    }
    if (v.status !== 'running' && v.status !== 'paused') return v.exit;
    const m = this.monitorOf(r.id);
    const t = timeoutSec ?? r.stopTimeout ?? 10;
    if (v.status === 'paused') await this.resume(r.id).catch(() => undefined);
    await this.runtimeSignal(m, r.stopSignal ?? 'SIGTERM').catch(() => undefined);
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), t * 1000);
    try {
      return await m.waitExit({ signal: ac.signal });
    } catch {
      await this.runtimeSignal(m, 'SIGKILL').catch(() => undefined);
      return m.waitExit();
    } finally {
      clearTimeout(timer);
    }
  }

  async pause(idOrName: string): Promise<void> { await this.runtimeCommand(idOrName, 'pause'); }
  async resume(idOrName: string): Promise<void> { await this.runtimeCommand(idOrName, 'resume'); }

  private async runtimeCommand(idOrName: string, cmd: string): Promise<void> {
    const r = this.resolve(idOrName);
    const v = this.view(r);
    if (v.status !== 'running' && v.status !== 'paused') throw failedPrecondition(`container ${r.name} is not running`);
    const { runRuntime } = await import('../shim/runtime-cli.js');
    await runRuntime(this.runtimeOf(r), [cmd, r.id]);
  }

  /**
   * start / delete / kill through the container's runtime. When that runtime is berth's own, the
   * runtime library runs in this process: each `berth-runtime` call would otherwise cost a Node
   * start (~60 ms). Any other runtime (runc, crun) is run as a program through the monitor client.
   */
  private async inProcessRuntime(m: Monitor) {
    if (m.session.runtime !== path.join(REPO_ROOT, 'bin', 'berth-runtime')) return undefined;
    const args = m.session.runtimeArgs ?? [];
    const i = args.indexOf('--root');
    const rtlib = await import('../runtime/index.js');
    return { lib: rtlib, rt: rtlib.openRuntime({ root: i >= 0 ? args[i + 1] : undefined }) };
  }

  private async runtimeStart(m: Monitor): Promise<void> {
    const ip = await this.inProcessRuntime(m);
    if (ip) await ip.lib.start(ip.rt, m.id);
    else await m.start();
  }

  private async runtimeDelete(m: Monitor): Promise<void> {
    const ip = await this.inProcessRuntime(m);
    if (ip) await ip.lib.delete(ip.rt, m.id, { force: true });
    else await m.delete({ force: true });
  }

  private async runtimeSignal(m: Monitor, sig: string | number): Promise<void> {
    const ip = await this.inProcessRuntime(m);
    if (ip) await ip.lib.kill(ip.rt, m.id, typeof sig === 'string' ? sig.replace(/^SIG/, '') : sig);
    else await m.signal(sig);
  }

  /** The runtime a container was started with (recorded by its monitor), else this engine's. */
  private runtimeOf(r: ContainerRecord): { runtime: string; runtimeArgs: string[] } {
    const m = this.monitor(r);
    if (m) return { runtime: m.session.runtime, runtimeArgs: m.session.runtimeArgs };
    return this.engineRuntime();
  }

  private engineRuntime(): { runtime: string; runtimeArgs: string[] } {
    return { runtime: this.layout.runtimePath(), runtimeArgs: ['--root', this.layout.runtimeRoot] };
  }

  /** The runtime's forced delete: through the container's monitor, else (a session a crash emptied) by this engine's runtime. */
  private async deleteRuntime(id: string, m: Monitor | undefined): Promise<void> {
    if (m) return this.runtimeDelete(m);
    const { runRuntime } = await import('../shim/runtime-cli.js');
    await runRuntime(this.engineRuntime(), ['delete', '--force', id]);
  }

  // ---- remove -------------------------------------------------------------------------
  /**
   * Finishes the removals of a remover killed after it renamed a container's directory away
   * (engine/interrupted-removals.ts): one readdir when there are none. Failures go to stderr; never throws.
   */
  finishInterruptedRemovals(): Promise<number> {
    return finishInterruptedRemovals({
      containers: this.layout.containers,
      deleteRuntime: (id, m) => this.deleteRuntime(id, m),
      teardownNetwork: (id) => this.network().teardownNetwork(id),
      removeSnapshot: (key) => this.removeSnapshot(key),
      cgroupsPath: cgroupsPathOf,
      releaseName: (name, id) => this.releaseName(name, id),
    });
  }

  /**
   * A removed container's snapshot, without fsync (GC collects one whose removal an OS crash undid:
   * cli/commands/rmi.ts snapshotCollector); one already gone is fine.
   */
  private removeSnapshot(key: string): Promise<void> {
    return this.snapshotter.remove(key, { durable: false })
      .catch((e) => { if (!(e instanceof BerthError && e.code === 'NOT_FOUND')) throw e; });
  }

  private async cleanupRuntime(r: ContainerRecord): Promise<void> {
    const m = this.monitor(r);
    // Without a session (a crash emptied session.json) but with a monitor dir, the runtime may still
    // hold its state (a --state that is not tmpfs), which would refuse the next create under the same id.
    if (m || fs.existsSync(this.layout.monitorDir(r.id))) await this.deleteRuntime(r.id, m).catch(() => undefined);
  }

  /**
   * `onGone`: called once the container no longer exists for anyone (its directory renamed away, its
   * name free), before its files and snapshot are deleted: a waiter on the removal (docker's
   * wait?condition=removed) need not wait for the deleting.
   */
  async remove(idOrName: string, opts: { force?: boolean; volumes?: boolean; onGone?: () => void } = {}): Promise<ContainerRecord> {
    const r0 = this.resolve(idOrName);
    // An auto-remove container may be removed by its monitor's exit command and by the CLI that
    // waited for it at the same moment: one removal at a time per container, the second finds it gone.
    let lock;
    try {
      lock = lockFile(path.join(this.layout.containerDir(r0.id), '.remove.lock'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`no such container: ${idOrName}`);
      throw e;
    }
    try {
      if (!fs.existsSync(this.layout.recordFile(r0.id))) throw notFound(`no such container: ${idOrName}`);
      return await this.removeLocked(this.readRecord(r0.id), opts);
    } finally {
      lock.release();
    }
  }

  private async removeLocked(r: ContainerRecord, opts: { force?: boolean; onGone?: () => void }): Promise<ContainerRecord> {
    this.pendingNetworks.delete(r.id); // never started: its teardown below comes after the setup (serialized per id)
    const tm = opTimer('engine', 'remove', r.id.slice(0, 12));
    const v = this.view(r);
    if ((v.status === 'running' || v.status === 'paused') && !opts.force) {
      throw failedPrecondition(`cannot remove container ${r.name}: it is ${v.status} (stop it first or use --force)`);
    }
    if (v.status === 'running' || v.status === 'paused') {
      const m = this.monitorOf(r.id);
      await this.runtimeSignal(m, 'SIGKILL').catch(() => undefined);
      const ac = new AbortController();
      const t = setTimeout(() => ac.abort(), 10_000);
      await m.waitExit({ signal: ac.signal }).catch(() => undefined);
      clearTimeout(t);
    }
    tm.mark('stop');
    // The runtime's delete kills whatever is left of the container: everything else waits for it,
    // unless nothing can be left. That is so when the monitor reaped the container's init and the
    // container had a pid namespace of its own (the kernel ends every process in it with its init),
    // and berth's specs carry no hooks that delete would run: then it goes alongside the rest.
    const runtime = this.cleanupRuntime(r).finally(() => tm.point('runtime-delete'));
    // Then the container is also gone for its callers before the runtime's delete, its network and its
    // snapshot are: the directory's rename and the name come first, and onGone (a waiter on the removal)
    // does not wait for the rest, which reads nothing in that directory (the monitor's session was read
    // above). A delete that failed then leaves runtime state only, no container.
    const nothingLeft = v.status === 'exited' && v.exit && v.exit.reason !== MONITOR_DIED && ownPidNamespace(r);
    if (!nothingLeft) {
      await runtime;
      tm.mark('runtime-delete');
    }
    // Its network, its snapshot and then its directory do not depend on each other and go at once
    // (after the unmount: the rootfs is in that directory). DEL is idempotent: a removal that died
    // half-way can run it again.
    const network = r.network === 'bridge' ? this.network().teardownNetwork(r.id).finally(() => tm.point('network')) : undefined;
    const key = r.snapshotKey;
    if (key && isMountPoint(r.rootfs)) unmountAll(r.rootfs);
    tm.point('unmount');
    // Without fsync, and possibly outliving the directory: should an OS crash undo the removal or
    // this process die first, the snapshot is labelled with a container whose directory is gone, and
    // GC removes it (cli/commands/rmi.ts snapshotCollector).
    const snapshot = key ? this.removeSnapshot(key).finally(() => tm.point('snapshot')) : undefined;
    snapshot?.catch(() => undefined); // awaited below
    const settle = async () => {
      const failed = (await Promise.allSettled([runtime, network])).find((x): x is PromiseRejectedResult => x.status === 'rejected');
      tm.point('runtime+network');
      // a container never started (or whose create failed) still has the dirs made for it at create
      if (!failed) discardCgroup(cgroupsPathOf(r), r.id);
      return failed;
    };
    // Otherwise the directory goes last of what reads it (the runtime's delete may read the monitor's
    // files, the network its record): a failure there leaves the container to a later rm.
    if (!nothingLeft) {
      const failed = await settle();
      if (failed) {
        await snapshot?.catch(() => undefined);
        throw failed.reason;
      }
    }
    // Rename first: a racing remover waiting on .remove.lock must not recreate it inside a directory
    // being deleted (ENOTEMPTY); after the rename it finds no container and stops.
    const dir = this.layout.containerDir(r.id);
    const tomb = path.join(this.layout.containers, `.removing-${r.id}`);
    fs.renameSync(dir, tomb);
    // After the record: a crash between the two leaves a stale entry, which counts as free.
    await this.releaseName(r.name, r.id).catch(() => undefined);
    opts.onGone?.();
    tm.point('gone');
    // the container is gone whatever happens now; a failure to undo the rest is still reported
    const late = nothingLeft ? await settle() : undefined;
    fs.rmSync(tomb, { recursive: true, force: true });
    tm.point('dir');
    await snapshot;
    tm.end();
    if (late) throw late.reason;
    return r;
  }

  // ---- exec / logs / top --------------------------------------------------------------
  async exec(idOrName: string, o: { cmd: string[]; env?: string[]; user?: string; workdir?: string; tty?: boolean; stdin?: boolean; privileged?: boolean; ttySize?: { rows: number; cols: number } }) {
    const r = this.resolve(idOrName);
    const v = this.view(r);
    if (v.status !== 'running') throw failedPrecondition(`container ${r.name} is not running`);
    if (!o.cmd.length) throw invalidArgument('exec needs a command');
    const spec = readJson<{ process: Record<string, any> }>(path.join(r.bundle, 'config.json'));
    const base = spec.process;
    const user = o.user ? resolveUser(r.rootfs, o.user) : undefined;
    const proc = {
      ...base,
      args: o.cmd,
      env: mergeEnv(base.env ?? [], o.env ?? []),
      cwd: o.workdir ?? base.cwd ?? '/',
      terminal: Boolean(o.tty),
      ...(user ? { user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids, umask: base.user?.umask } } : {}),
    };
    return this.monitorOf(r.id).exec({ process: proc, tty: o.tty, stdin: o.stdin, stdinOnce: o.stdin, attach: true, ttySize: o.ttySize });
  }

  /** Runs a command to completion in a running container (CRI ExecSync): exit code and whole output. */
  async execSync(idOrName: string, o: { cmd: string[]; timeoutMs?: number }) {
    const r = this.resolve(idOrName);
    const v = this.view(r);
    if (v.status !== 'running') throw failedPrecondition(`container ${r.name} is not running`);
    if (!o.cmd.length) throw invalidArgument('exec needs a command');
    const spec = readJson<{ process: Record<string, any> }>(path.join(r.bundle, 'config.json'));
    return this.monitorOf(r.id).execSync({ ...spec.process, args: o.cmd, terminal: false }, { timeoutMs: o.timeoutMs });
  }

  logs(idOrName: string, opts: { follow?: boolean; tail?: number; signal?: AbortSignal } = {}) {
    const r = this.resolve(idOrName);
    const m = this.monitor(r);
    if (!m) return (async function* () { /* never started: no output yet */ })();
    return m.logs(opts);
  }

  async top(idOrName: string): Promise<{ titles: string[]; processes: string[][] }> {
    const r = this.resolve(idOrName);
    const v = this.view(r);
    if (v.status !== 'running' && v.status !== 'paused') throw failedPrecondition(`container ${r.name} is not running`);
    const { runRuntime } = await import('../shim/runtime-cli.js');
    const out = await runRuntime(this.runtimeOf(r), ['ps', '--format', 'json', r.id]);
    const pids = JSON.parse(String(out || '[]')) as number[];
    const titles = ['PID', 'PPID', 'STAT', 'CMD'];
    const processes: string[][] = [];
    for (const pid of pids) {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
        processes.push([String(pid), rest[1], rest[0], cmd]);
      } catch { /* exited meanwhile */ }
    }
    return { titles, processes };
  }
}

function logPathOf(r: ContainerRecord): string | undefined {
  const p = (r.options as { logPath?: unknown } | undefined)?.logPath;
  return typeof p === 'string' && path.isAbsolute(p) ? p : undefined;
}

function publicOptions(req: CreateRequest): Record<string, unknown> {
  const { onPullEvent: _e, registry: _r, ...rest } = req;
  return JSON.parse(JSON.stringify(rest)) as Record<string, unknown>;
}

/** The container had a pid namespace of its own (not the host's, not another container's). */
function ownPidNamespace(r: ContainerRecord): boolean {
  const pid = (r.options as { pid?: unknown } | undefined)?.pid;
  return pid === undefined || pid === 'private';
}

function isMountPoint(p: string): boolean {
  try {
    const a = fs.statSync(p);
    const b = fs.statSync(path.dirname(p));
    if (a.dev !== b.dev) return true;
    // overlay on the same device is still listed in mountinfo
    return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === p);
  } catch {
    return false;
  }
}

/**
 * 'paused' when the container's cgroup is frozen. Read from the kernel, not from a runtime's state
 * file (their formats differ): the init's /proc/<pid>/cgroup names its freezer (v1) or unified cgroup.
 */
function frozenState(pid: number | undefined): 'paused' | 'running' | undefined {
  if (!pid) return undefined;
  let lines: string[];
  try { lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n'); } catch { return undefined; }
  for (const l of lines) {
    const [, ctrls, p] = l.split(':');
    if (p === undefined) continue;
    try {
      if (ctrls.split(',').includes('freezer')) {
        return fs.readFileSync(path.join('/sys/fs/cgroup/freezer', p, 'freezer.state'), 'utf8').trim() === 'FROZEN' ? 'paused' : 'running';
      }
    } catch { /* try the unified tree */ }
  }
  const u = lines.find((l) => l.startsWith('0::'));
  if (u) {
    const p = u.slice(3);
    const base = fs.existsSync('/sys/fs/cgroup/unified') ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup';
    try { return /^frozen 1$/m.test(fs.readFileSync(path.join(base, p, 'cgroup.events'), 'utf8')) ? 'paused' : 'running'; } catch { /* none */ }
  }
  return undefined;
}

const defaultCgroupsPath = (id: string) => `/berth/${id}`;
/** The container's hostname: the one asked for, else its short id (as docker). */
const hostnameOf = (id: string, asked: string | undefined) => asked ?? id.slice(0, 12);

/** The cgroupsPath the container's spec has (build-spec.ts: the request's, or /berth/<id>). */
function cgroupsPathOf(r: ContainerRecord): string {
  return (r.options as { cgroupsPath?: string } | undefined)?.cgroupsPath ?? defaultCgroupsPath(r.id);
}

