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
    discussion: """
      Mount options (-o, comma-separated):
        size=N[k|m|g|t|%]   memfs size limit (default 50% of RAM; 0 = none)
        nr_inodes=N[k|m|g]  inode limit (default half the RAM's pages; 0 = none)
        mode=OCTAL          mode of the root directory (default 1777)
        uid=N, gid=N        owner of the root directory
        allow_other         let other users use the mount (off by default)
        ro                  mount read-only
        entry_timeout=S     seconds the kernel caches names (default 3600)
        attr_timeout=S      seconds the kernel caches attributes (default 3600)
        writeback_cache     let the kernel cache writes (faster small writes)
        dcache_max=N        most dentries the Swift dcache keeps
        max_threads=N       most threads serving requests that may sleep (default 16)
        libfuse_mt          serve every request on libfuse's thread pool (slower
                            for one client at a time; see README)
        max_idle_threads=N  with libfuse_mt: idle threads kept (default 8)
        default_permissions always on: the kernel checks modes, as on tmpfs

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

  @Option(name: .short, help: "Mount options, comma-separated (see below).")
  var options: [String] = []

  @Argument(help: "The directory to mount on.")
  var mountPoint: String

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
    let parsed = try MountConfiguration(options: options)
    let path = try MountConfiguration.checkMountPoint(mountPoint)

    let vfs: VFS
    do {
      vfs = try VFS.standard(options: parsed.fileSystemOptions)
    } catch {
      throw MountFailure("cannot build the file system: \(error)")
    }
    var bridgeOptions = FuseBridge.Options()
    bridgeOptions.entryTimeout = parsed.entryTimeout
    bridgeOptions.attrTimeout = parsed.attrTimeout
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
    session.installSignalHandlers()
    session.daemonize(foreground: foreground || debug)
    let loop: FuseSession.Loop =
      singleThreaded ? .single : parsed.libfuseLoop ? .libfuseMultithreaded : .threaded
    let result = session.run(
      loop: loop, maxThreads: parsed.maxThreads, maxIdleThreads: parsed.maxIdleThreads)
    session.close()
    if result != 0 { throw ExitCode(1) }
  }
}

struct MountFailure: Error {
  let message: String
  init(_ message: String) { self.message = message }
}
