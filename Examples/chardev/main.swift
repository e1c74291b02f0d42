// chardev MOUNTPOINT
//
// The char-device homework of a kernel course, in Swift: a driver with read,
// write, ioctl and poll (RingDevice.swift), registered as a kernel module
// would register it: a dynamic major (alloc_chrdev_region), the cdev added
// (cdev_add), and its node made in devtmpfs (device_create), here
// MOUNTPOINT/dev/ring in a memfs with the usual /dev and /proc.
//
// The device is a ring buffer of 4096 bytes (LDD3's scullpipe): a write
// appends, a read consumes and sleeps until there is data (EAGAIN with
// O_NONBLOCK), poll/select report it readable when it holds bytes, and two
// ioctls, with LDD3's encodings, empty it and return its fill level:
//
//   swift run chardev /mnt/dev-demo
//   echo hello > /mnt/dev-demo/dev/ring; cat /mnt/dev-demo/dev/ring    # hello (then waits: Ctrl-C)
//   grep ring /mnt/dev-demo/proc/devices                               # the major it got
//   python3 -c 'import fcntl,os,struct; fd=os.open("/mnt/dev-demo/dev/ring", os.O_RDONLY)
//   print(struct.unpack("i", fcntl.ioctl(fd, 0x80047201, bytes(4)))[0])'   # RING_IOCGFILL
//   python3 -c 'import fcntl,os; fcntl.ioctl(os.open("/mnt/dev-demo/dev/ring", os.O_RDONLY), 0x7200)'  # RING_IOCRESET
//
// It runs in the foreground until Ctrl-C, SIGTERM or `umount MOUNTPOINT`, then
// exits 0; a bad mount point is one line on stderr and exit 1.
import Foundation
import SwiftVFS

/// Writes one line on stderr and exits with `status`.
func fail(_ message: String, status: Int32) -> Never {
  FileHandle.standardError.write(Data((message + "\n").utf8))
  exit(status)
}

let arguments = CommandLine.arguments
guard arguments.count == 2 else { fail("usage: chardev MOUNTPOINT", status: 2) }
do {
  let vfs = try VFS.standard(options: MountOptions())  // memfs at /, devtmpfs at /dev, proc
  let ring = RingDevice()
  let dev = try vfs.chrdevs.allocRegion(count: 1, name: "ring")  // alloc_chrdev_region()
  try vfs.chrdevs.add(
    .init(base: dev, name: "ring", fileOps: RingFileOperations(device: ring)))  // cdev_add()
  try vfs.devtmpfsCreateNode("ring", dev: dev, mode: 0o666)  // device_create()
  let session = try FuseSession(
    bridge: FuseBridge(vfs: vfs, options: FuseBridge.Options()), mountPoint: arguments[1],
    kernelOptions: ["fsname=chardev", "subtype=chardev", "default_permissions"])
  session.installSignalHandlers()
  FileHandle.standardOutput.write(Data("chardev: /dev/ring is \(dev)\n".utf8))
  let status = session.run(loop: .threaded)
  session.close()
  exit(status == 0 ? 0 : 1)
} catch {
  fail("chardev: \(error)", status: 1)
}
