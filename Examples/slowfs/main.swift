import SwiftVFS

#if canImport(Glibc)
  import Glibc
#endif

// slowfs [--delay SECONDS] [--timeouts SECONDS] MOUNTPOINT: mounts SlowFS in
// the foreground until Ctrl-C, SIGTERM or `fusermount3 -u MOUNTPOINT`.
// --delay: how long a read of `slow` waits (1 s); --timeouts: the kernel's
// entry and attribute timeouts (an hour, the default of every mount).
var arguments = Array(CommandLine.arguments.dropFirst())
var delay = 1.0
var options = FuseBridge.Options()
while arguments.count > 1, arguments[0].hasPrefix("--"), let value = Double(arguments[1]) {
  switch arguments[0] {
  case "--delay": delay = value
  case "--timeouts":
    options.entryTimeout = value
    options.attrTimeout = value
  default: arguments = []
  }
  arguments.removeFirst(min(2, arguments.count))
}
guard arguments.count == 1 else {
  print("usage: slowfs [--delay SECONDS] [--timeouts SECONDS] MOUNTPOINT")
  exit(2)
}
do {
  let vfs = VFS()
  // A remote backend keeps no atime; and a read that moved it would make the
  // VFS drop the kernel's cached pages at each open (keepCache).
  vfs.atimePolicy = AtimePolicy(noatime: true)
  let backend = SlowBackend(vfs: vfs, delay: .milliseconds(Int(delay * 1000)))
  try vfs.filesystems.register(SlowFS(backend: backend))
  try vfs.mount("slowfs", at: "/", options: MountOptions())
  let bridge = FuseBridge(vfs: vfs, options: options)
  let session = try FuseSession(
    bridge: bridge, mountPoint: arguments[0],
    kernelOptions: ["fsname=slowfs", "subtype=slowfs", "default_permissions", "noatime"])
  session.installSignalHandlers()
  let result = session.run(loop: .threaded)
  session.close()
  exit(result == 0 ? 0 : 1)
} catch {
  print("slowfs: \(error)")
  exit(1)
}
