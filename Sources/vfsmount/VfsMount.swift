import ArgumentParser
import SwiftVFS

#if canImport(Glibc)
  import Glibc
#endif

/// `vfsmount`: mounts the SwiftVFS tree (memfs at /, devices at /dev, live
/// kernel-like tables at /proc) on a directory, as other FUSE file systems do.
@main
struct VfsMount: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "vfsmount",
    abstract: "Mount SwiftVFS, a Linux VFS rebuilt in Swift, through FUSE.",
    usage: "vfsmount [-f] [-d] [-s] [-t <type>] [-o <options>] [SOURCE] MOUNTPOINT",
    discussion: """
      Mount options (-o, comma-separated):
        size=N[k|m|g|t|%]   memfs size limit (default 50% of RAM; 0 = none)
        nr_inodes=N[k|m|g]  inode limit (default half the RAM's pages; 0 = none)
        mode=OCTAL          mode of the root directory (default 1777)
        uid=N, gid=N        owner of the root directory (default: who mounts)
        bare                an empty root: no /dev and /proc in it
        allow_other         let other users use the mount (off by default)
        ro, rw              mount read-only, read-write (default)
        noatime, relatime, strictatime, nodiratime
                            when reads move atime (default relatime)
        nosuid, nodev, noexec, sync, dirsync, atime, exec, suid, dev, async
                            generic flags, as mount(8) gives them
        defaults, _netdev, lazytime
                            accepted and ignored
        fsname=NAME         the source df and findmnt show (default SOURCE,
                            else vfsmount)
        subtype=NAME        the type shown is fuse.NAME (default vfsmount)
        entry_timeout=S     seconds the kernel caches names (default 3600)
        attr_timeout=S      seconds the kernel caches attributes (default 3600)
        writeback_cache     let the kernel cache writes (faster small writes)
        dcache_max=N        most dentries the Swift dcache keeps
        max_threads=N       most threads serving requests that may sleep (default 16)
        libfuse_mt          serve every request on libfuse's thread pool (slower
                            for one client at a time; see README; engine=libfuse)
        max_idle_threads=N  with libfuse_mt: idle threads kept (default 8)
        engine=E            who reads /dev/fuse: native (default: the newest FUSE
                            protocol, one thread per CPU) or libfuse (3.14's loop)
        transport=T         with engine=native: auto (default: FUSE-over-io_uring
                            when root turned enable_uring on, else read/write),
                            readwrite, or uring (read/write only if the kernel
                            refuses; /proc/vfs/connection says which and why)
        busy_poll=US        with engine=native: microseconds a thread looks for
                            the next request after a reply while requests come
                            one at a time (default 20; 0: off)
        default_permissions always on: the kernel checks modes, as on tmpfs

      With -t ext2, SOURCE is an ext2 image (made by mke2fs -t ext2), mounted
      read-write (-o ro: read-only), with /dev and /proc shown at its root
      unless -o bare (no directory is made in the image for them);
      cache_size=N[k|m|g] bounds its page cache (default 64m). What is
      written reaches the image by writeback, on fsync, and at unmount.

      SOURCE is the source df and findmnt show (memfs ignores it otherwise);
      mount(8) passes one (`mount -t fuse.vfsmount none DIR -o size=1g`, or an
      fstab line of type fuse.vfsmount). `mount -o remount,noatime DIR` runs
      vfsmount again with remount: it changes the mount's flags and exits.

      Unmount with `fusermount3 -u MOUNTPOINT` (or `umount` as root); in the
      foreground, Ctrl-C or SIGTERM unmounts and exits 0.
      """,
    version: "vfsmount 0.1.0 (SwiftVFS)")

  @Flag(name: .short, help: "Stay in the foreground.")
  var foreground = false

  @Flag(name: .short, help: "Debug: foreground, one log line per request on stderr.")
  var debug = false

  @Flag(
    name: .short,
    help:
      "Serve every request on one thread (default: one thread, plus workers for requests that may sleep)."
  )
  var singleThreaded = false

  @Option(name: .short, help: "The file system type: memfs (default) or ext2 (SOURCE an image).")
  var type = "memfs"

  @Option(name: .short, help: "Mount options, comma-separated (see below).")
  var options: [String] = []

  @Argument(
    help: "[SOURCE] MOUNTPOINT: what to mount (ignored by memfs), and the directory to mount on.")
  var arguments: [String] = []

  /// Parses, runs, and turns every failure into one line on stderr.
  static func main() {
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch let failure as MountFailure {
      fail(failure.message)
    } catch {
      if exitCode(for: error) == .success { exit(withError: error) }
      let message = VfsMount.message(for: error).split(separator: "\n").first ?? "invalid usage"
      fail(String(message))
    }
  }

  static func fail(_ message: String) -> Never {
    let line = "vfsmount: \(message)\n"
    line.withCString { _ = write(2, $0, strlen($0)) }
    Glibc.exit(1)
  }

  mutating func run() throws {
    guard (1...2).contains(arguments.count) else {
      throw MountFailure(
        arguments.isEmpty ? "missing mount point" : "too many arguments: [SOURCE] MOUNTPOINT")
    }
    if Remount.isRemount(options) {
      try Remount.run(options: options, mountPoint: arguments[arguments.count - 1])
      return
    }
    let parsed = try MountConfiguration(
      options: options, source: arguments.count == 2 ? arguments[0] : nil)
    let path = try parsed.checkMountPoint(arguments[arguments.count - 1])

    let vfs: VFS
    switch type {
    case "memfs":
      do {
        // The root belongs to who mounts, as tmpfs's does (shmem_fill_super()
        // takes current_fsuid()); uid= and gid= override it.
        vfs = try VFS.standard(
          options: parsed.fileSystemOptions, cred: Cred(uid: geteuid(), gid: getegid()))
      } catch {
        throw MountFailure("cannot build the file system: \(error)")
      }
    case "ext2":
      vfs = try Self.ext2(parsed, source: arguments.count == 2 ? arguments[0] : nil)
    default:
      throw MountFailure("unknown file system type '\(type)' (memfs or ext2)")
    }
    var bridgeOptions = FuseBridge.Options()
    bridgeOptions.entryTimeout = parsed.entryTimeout
    bridgeOptions.attrTimeout = parsed.attrTimeout
    bridgeOptions.busyPollMicroseconds = parsed.busyPoll
    bridgeOptions.writebackCache = parsed.writebackCache
    bridgeOptions.debug = debug
    let bridge = FuseBridge(vfs: vfs, options: bridgeOptions)

    let session: FuseSession
    do {
      session = try FuseSession(
        bridge: bridge, mountPoint: path, kernelOptions: parsed.kernelOptions)
    } catch {
      throw MountFailure(error.description)
    }
    // The atime flags: libfuse passed noatime; the others are set on the
    // mount here when root may, and then the mount's flags are the policy.
    // Unprivileged, the daemon keeps what -o asked (findmnt shows relatime).
    var atime = parsed.generic.atimePolicy
    if parsed.generic.needsAtimeRemount, geteuid() == 0 {
      _ = MountAtime.apply(atime, to: path)
    }
    if geteuid() == 0, let shown = MountAtime.current(at: path) { atime = shown }
    vfs.atimePolicy = atime
    session.daemonize(foreground: foreground || debug)
    // Threads after the fork of daemonize: a child keeps none of its parent's.
    session.installSignalHandlers()
    MountWatch(path: path, vfs: vfs)?.start()
    let loop: FuseSession.Loop =
      singleThreaded ? .single : parsed.libfuseLoop ? .libfuseMultithreaded : .threaded
    let result = session.run(
      loop: loop, engine: parsed.libfuseLoop ? .libfuse : parsed.engine,
      maxThreads: parsed.maxThreads,
      maxIdleThreads: parsed.maxIdleThreads, transport: parsed.transport)
    session.close()
    // No request can come any more: each file system writes back what it
    // holds (ext2 marks its image clean) before the process exits.
    vfs.unmountAll()
    if result != 0 { throw ExitCode(1) }
  }
}

extension VfsMount {
  /// ext2 at `/` from the image `source` (read-write unless -o ro), with /dev and /proc
  /// over it (synthesized: no directory is made in the image) unless bare.
  static func ext2(_ parsed: MountConfiguration, source: String?) throws -> VFS {
    guard let source else { throw MountFailure("ext2 needs an image: vfsmount -t ext2 IMAGE DIR") }
    let options = parsed.fileSystemOptions
    // The Swift dcache keeps the inodes of its entries. Those the inode
    // cache lets go lose theirs (Dcache.pruneAliases), so it may hold more
    // names than ext2 keeps inodes: four times as many, mostly negative
    // entries (a name looked up and not found, or unlinked), which keep no
    // inode and spare a scan of the directory; its bound still follows
    // cache_size, for the names the kernel forgot.
    let cacheBytes =
      options.value("cache_size").flatMap { try? PageCache.parseCacheSize($0) }
      ?? PageCache.defaultCapacityBytes
    let vfs = VFS(
      dcacheCapacity: (try? options.count("dcache_max")).flatMap { $0.map { Int($0) } }
        ?? 4 * Ext2FileSystem.cachedInodes(cacheBytes: cacheBytes))
    do {
      try vfs.filesystems.register(Ext2FileSystem())
      try vfs.mount("ext2", at: "/", options: options)
      if !options.flag("bare") { try vfs.mountDevAndProc() }
    } catch {
      throw MountFailure("cannot mount \(source): \(error)")
    }
    return vfs
  }
}

struct MountFailure: Error {
  let message: String
  init(_ message: String) { self.message = message }
}
