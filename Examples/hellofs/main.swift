import SwiftVFS

#if canImport(Glibc)
  import Glibc
#endif

// hellofs MOUNTPOINT: mounts HelloFS in the foreground until Ctrl-C,
// SIGTERM or `fusermount3 -u MOUNTPOINT`.
/// Writes one line on stderr and exits with `status`.
func fail(_ message: String, status: Int32) -> Never {
  _ = (message + "\n").withCString { write(2, $0, strlen($0)) }
  exit(status)
}

guard CommandLine.arguments.count == 2 else { fail("usage: hellofs MOUNTPOINT", status: 2) }
do {
  let vfs = VFS()
  try vfs.filesystems.register(HelloFS())
  try vfs.mount("hellofs", at: "/", options: MountOptions())
  let bridge = FuseBridge(vfs: vfs, options: FuseBridge.Options())
  let session = try FuseSession(
    bridge: bridge, mountPoint: CommandLine.arguments[1],
    kernelOptions: ["fsname=hellofs", "subtype=hellofs", "default_permissions"])
  session.installSignalHandlers()
  let result = session.run(loop: .threaded)
  session.close()
  exit(result == 0 ? 0 : 1)
} catch {
  fail("hellofs: \(error)", status: 1)
}
