// passthrough HOSTDIR MOUNTPOINT
//
// Shows the host directory HOSTDIR at MOUNTPOINT: listing, reading, writing,
// creating, renaming, removing, chmod, truncate ... through the mount act on
// the real files underneath (Passthrough.swift, on SwiftVFS's path layer
// `PathFileSystem`, like libfuse's example/passthrough.c). Changes made on
// the host directly show through the mount at once: the kernel is told to
// cache no names or attributes.
//
// It runs in the foreground until Ctrl-C, SIGTERM or `umount MOUNTPOINT`, then
// exits 0; a bad directory or mount point is one line on stderr and exit 1.
//
//   swift run passthrough /srv/data /mnt/data
//   echo hi > /mnt/data/new; cat /srv/data/new    # hi
import SwiftVFS

#if canImport(Glibc)
  import Glibc
#endif

/// Writes one line on stderr and exits with `status`.
func fail(_ message: String, status: Int32) -> Never {
  _ = (message + "\n").withCString { write(2, $0, strlen($0)) }
  exit(status)
}

let arguments = CommandLine.arguments
guard arguments.count == 3 else { fail("usage: passthrough HOSTDIR MOUNTPOINT", status: 2) }
guard let resolved = realpath(arguments[1], nil) else {
  fail("passthrough: cannot show \(arguments[1]): \(Errno(errno))", status: 1)
}
let hostDirectory = String(cString: resolved)
free(resolved)
// The kernel applies the caller's umask to the modes it asks for: ours must
// not apply again (as in libfuse's passthrough.c).
umask(0)
do {
  let vfs = VFS()
  try vfs.filesystems.register(
    PathFileSystemType(
      name: "passthrough", Passthrough(root: hostDirectory == "/" ? "" : hostDirectory)))
  try vfs.mount("passthrough", at: "/", options: MountOptions())
  var options = FuseBridge.Options()
  // The host may change under us: let the kernel keep nothing (passthrough_ll's default).
  options.entryTimeout = 0
  options.attrTimeout = 0
  let session = try FuseSession(
    bridge: FuseBridge(vfs: vfs, options: options), mountPoint: arguments[2],
    kernelOptions: ["fsname=passthrough", "subtype=passthrough", "default_permissions"])
  session.installSignalHandlers()
  let status = session.run(loop: .threaded)
  session.close()
  exit(status == 0 ? 0 : 1)
} catch {
  fail("passthrough: \(error)", status: 1)
}
