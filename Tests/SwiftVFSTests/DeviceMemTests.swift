import SwiftVFS
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// null, zero, full, random, urandom through the VFS entry points, and the
/// devtmpfs, mknod, xattr and device table that surround them.
final class DeviceMemTests: XCTestCase {
  var vfs: VFS!

  override func setUpWithError() throws {
    vfs = try devStandardVFS()
  }

  func testDevHoldsTheBuiltinNodes() throws {
    let expected: [(String, UInt32, UInt32)] = [
      ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9),
      ("scull0", 254, 0), ("scull1", 254, 1), ("scull2", 254, 2), ("scull3", 254, 3),
      ("log", 253, 0),
    ]
    for (name, major, minor) in expected {
      let st = try vfs.getattr(try vfs.devResolve("/dev/\(name)"))
      XCTAssertEqual(FileType(mode: st.mode), .characterDevice, name)
      XCTAssertEqual(st.mode & 0o7777, 0o666, name)
      XCTAssertEqual(st.rdev, try DevT(major: major, minor: minor), name)
    }
    let dev = try vfs.devResolve("/dev")
    XCTAssertEqual(dev.sb.fsType.name, "devtmpfs")
    XCTAssertEqual(try vfs.getattr(dev).mode & 0o7777, 0o755)
    XCTAssertTrue(vfs.devtmpfs === dev.sb)
  }

  func testNull() throws {
    let (fh, file) = try vfs.devOpen("/dev/null", O_RDWR)
    defer { vfs.release(fh) }
    XCTAssertEqual(try vfs.devRead(file, count: 100), [])
    XCTAssertEqual(try vfs.devWrite(file, "hello"), 5)
    XCTAssertEqual(
      try vfs.devWrite(file, [UInt8](repeating: 1, count: 1 << 20), at: 12345), 1 << 20)
    XCTAssertEqual(try vfs.devRead(file, count: 100, at: 99), [])
    XCTAssertTrue(file.directIO)
  }

  func testZero() throws {
    let (fh, file) = try vfs.devOpen("/dev/zero", O_RDWR)
    defer { vfs.release(fh) }
    XCTAssertEqual(try vfs.devRead(file, count: 4096), [UInt8](repeating: 0, count: 4096))
    XCTAssertEqual(try vfs.devRead(file, count: 1 << 20, at: 1 << 40).count, 1 << 20)
    XCTAssertEqual(try vfs.devWrite(file, "gone"), 4)
  }

  func testFull() throws {
    let (fh, file) = try vfs.devOpen("/dev/full", O_RDWR)
    defer { vfs.release(fh) }
    XCTAssertEqual(try vfs.devRead(file, count: 10), [UInt8](repeating: 0, count: 10))
    XCTAssertEqual(devThrown { try vfs.devWrite(file, "x\n") }, .ENOSPC)
  }

  func testRandomAndUrandom() throws {
    for name in ["random", "urandom"] {
      let (fh, file) = try vfs.devOpen("/dev/\(name)", O_RDWR)
      defer { vfs.release(fh) }
      let a = try vfs.devRead(file, count: 1000)
      let b = try vfs.devRead(file, count: 1000)
      XCTAssertEqual(a.count, 1000)
      XCTAssertNotEqual(a, b)
      XCTAssertGreaterThan(Set(a).count, 100, "1000 random bytes use most byte values")
      XCTAssertEqual(try vfs.devWrite(file, "seed"), 4)
      XCTAssertEqual(vfs.poll(file, waiter: nil), .default)
    }
  }

  func testAccessModesAreChecked() throws {
    let (fh, file) = try vfs.devOpen("/dev/zero", O_WRONLY)
    defer { vfs.release(fh) }
    XCTAssertEqual(devThrown { try vfs.devRead(file, count: 1) }, .EBADF)
    let (fh2, file2) = try vfs.devOpen("/dev/null", O_RDONLY)
    defer { vfs.release(fh2) }
    XCTAssertEqual(devThrown { try vfs.devWrite(file2, "x") }, .EBADF)
  }

  func testMemMinorWithoutADriverIsENXIO() throws {
    // 1:11 is kmsg in Linux, 1:1 /dev/mem: the mem driver here has neither.
    try vfs.devMknod("/dev/kmsg", .characterDevice, try DevT(major: 1, minor: 11))
    XCTAssertEqual(devThrown { try vfs.devOpen("/dev/kmsg", O_RDONLY) }, .ENXIO)
    XCTAssertEqual(vfs.openFileCount, 0)
  }

  func testMknodAnywhereReachesTheDriver() throws {
    // In the root memfs, not in /dev: the node still opens /dev/zero's driver.
    let tmp = try vfs.mkdir(vfs.root, "tmp", mode: 0o1777, cred: .root)
    vfs.forget(tmp.ino, count: 1)
    try vfs.devMknod("/tmp/myzero", .characterDevice, try DevT(major: 1, minor: 5))
    let (fh, file) = try vfs.devOpen("/tmp/myzero", O_RDONLY)
    defer { vfs.release(fh) }
    XCTAssertEqual(try vfs.devRead(file, count: 3), [0, 0, 0])
    // And in /dev.
    try vfs.devMknod("/dev/myfull", .characterDevice, try DevT(major: 1, minor: 7))
    let (fh2, file2) = try vfs.devOpen("/dev/myfull", O_WRONLY)
    defer { vfs.release(fh2) }
    XCTAssertEqual(devThrown { try vfs.devWrite(file2, "x") }, .ENOSPC)
  }

  func testUnregisteredMajorIsENXIO() throws {
    try vfs.devMknod("/dev/nothing", .characterDevice, try DevT(major: 99, minor: 0))
    let st = try vfs.getattr(try vfs.devResolve("/dev/nothing"))
    XCTAssertEqual(st.rdev, try DevT(major: 99, minor: 0))
    XCTAssertEqual(devThrown { try vfs.devOpen("/dev/nothing", O_RDONLY) }, .ENXIO)
    // Registering a driver later makes the same node work (cdev_add: live at once).
    struct Seven: FileOperations {
      func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
        throws(Errno) -> Int
      {
        buffer.storeBytes(of: 7, as: UInt8.self)
        return 1
      }
    }
    try vfs.chrdevs.registerChrdev(major: 99, name: "seven", fileOps: Seven())
    let (fh, file) = try vfs.devOpen("/dev/nothing", O_RDONLY)
    XCTAssertEqual(try vfs.devRead(file, count: 5), [7])
    vfs.release(fh)
    vfs.chrdevs.unregisterChrdev(major: 99)
    XCTAssertEqual(devThrown { try vfs.devOpen("/dev/nothing", O_RDONLY) }, .ENXIO)
  }

  func testBlockNodesStatButDoNotOpen() throws {
    try vfs.devMknod("/dev/sda", .blockDevice, try DevT(major: 8, minor: 0), mode: 0o660)
    let st = try vfs.getattr(try vfs.devResolve("/dev/sda"))
    XCTAssertEqual(FileType(mode: st.mode), .blockDevice)
    XCTAssertEqual(st.rdev, try DevT(major: 8, minor: 0))
    XCTAssertEqual(st.mode & 0o7777, 0o660)
    XCTAssertEqual(devThrown { try vfs.devOpen("/dev/sda", O_RDONLY) }, .ENXIO)
  }

  func testDevtmpfsIsATmpfs() throws {
    let dev = try vfs.devResolve("/dev")
    let pts = try vfs.mkdir(dev, "pts", mode: 0o755, cred: .root)
    vfs.forget(pts.ino, count: 1)
    try vfs.devMknod("/dev/pts/0", .characterDevice, try DevT(major: 136, minor: 0))
    let fd = try vfs.symlink(dev, "stdin", target: Array("/proc/self/fd/0".utf8), cred: .root)
    vfs.forget(fd.ino, count: 1)
    try vfs.rename(dev, "null", dev, "null2")
    let (fh, file) = try vfs.devOpen("/dev/null2", O_WRONLY)
    XCTAssertEqual(try vfs.devWrite(file, "x"), 1)
    vfs.release(fh)
    try vfs.rename(dev, "null2", dev, "null")
    try vfs.unlink(dev, "zero")
    XCTAssertEqual(devThrown { try vfs.devResolve("/dev/zero") }, .ENOENT)
    // A regular file in /dev works too, as on a real devtmpfs.
    let (_, fh2, file2) = try vfs.create(dev, "notes", mode: 0o644, flags: O_RDWR, cred: .root)
    XCTAssertEqual(try vfs.devWrite(file2, "abc"), 3)
    XCTAssertEqual(try vfs.devRead(file2, count: 10), Array("abc".utf8))
    vfs.release(fh2)
    // Link across superblocks is EXDEV, as everywhere.
    let tmp = try vfs.mkdir(vfs.root, "tmp", mode: 0o1777, cred: .root)
    defer { vfs.forget(tmp.ino, count: 1) }
    XCTAssertEqual(devThrown { try vfs.link(try vfs.devResolve("/dev/full"), tmp, "full") }, .EXDEV)
    // The mount point is busy.
    XCTAssertEqual(devThrown { try vfs.rmdir(vfs.root, "dev") }, .EBUSY)
  }

  func testDevtmpfsCreateAndDeleteNode() throws {
    let dev = try DevT(major: 1, minor: 3)
    try vfs.devtmpfsCreateNode("null", dev: dev, mode: 0o666)  // exists: left alone
    try vfs.devtmpfsCreateNode("another-null", dev: dev)
    let st = try vfs.getattr(try vfs.devResolve("/dev/another-null"))
    XCTAssertEqual(st.mode, FileType.characterDevice.rawValue | 0o600)
    XCTAssertEqual(st.uid, 0)
    try vfs.devtmpfsDeleteNode("another-null")
    XCTAssertEqual(devThrown { try vfs.devResolve("/dev/another-null") }, .ENOENT)
    try vfs.devtmpfsDeleteNode("no-such-node")
    XCTAssertEqual(
      devThrown { try vfs.devtmpfsCreateNode("bad/name", dev: dev) }, .EINVAL)
    XCTAssertEqual(
      devThrown { try vfs.devtmpfsCreateNode("x", dev: dev, type: .regular) }, .EINVAL)
    // Without a devtmpfs, nodes are simply not made.
    let bare = VFS()
    try bare.filesystems.register(MemfsType())
    try bare.mount("memfs", at: "/", options: MountOptions())
    XCTAssertNil(bare.devtmpfs)
    try BuiltinDevices.register(in: bare)
    XCTAssertEqual(bare.chrdevs.cdev(for: dev)?.name, "mem")
  }

  func testNoRdevXattrTheNumberIsInTheNodeTable() throws {
    let null = try vfs.devResolve("/dev/null")
    // user.* is refused on device nodes, as in Linux: no made-up user.dev.rdev.
    XCTAssertEqual(devThrown { try vfs.getxattr(null, "user.dev.rdev", cred: .root) }, .ENODATA)
    XCTAssertEqual(try vfs.listxattr(null, cred: Cred(uid: 1000, gid: 1000)), [])
    XCTAssertEqual(
      devThrown {
        try vfs.setxattr(null, "user.dev.rdev", Array("2:2".utf8), flags: [], cred: .root)
      },
      .EPERM)
    try vfs.devMknod("/dev/sdb", .blockDevice, try DevT(major: 8, minor: 16))
    let nodes = vfs.deviceNodes()
    XCTAssertEqual(
      nodes.first { $0.path == "/dev/null" },
      DeviceNode(
        path: "/dev/null", type: .characterDevice, rdev: try DevT(major: 1, minor: 3), driver: "mem"
      ))
    XCTAssertEqual(
      nodes.first { $0.path == "/dev/sdb" },
      DeviceNode(
        path: "/dev/sdb", type: .blockDevice, rdev: try DevT(major: 8, minor: 16), driver: nil))
  }

  func testDeviceNodeTable() throws {
    let tmp = try vfs.mkdir(vfs.root, "tmp", mode: 0o1777, cred: .root)
    vfs.forget(tmp.ino, count: 1)
    try vfs.devMknod("/tmp/orphan", .characterDevice, try DevT(major: 77, minor: 1))
    try vfs.devMknod("/tmp/disk", .blockDevice, try DevT(major: 8, minor: 0))
    let fifo = try vfs.mknod(
      tmp, "fifo", mode: FileType.fifo.rawValue | 0o644, rdev: .zero, cred: .root)
    vfs.forget(fifo.ino, count: 1)
    let nodes = vfs.deviceNodes()
    let byPath = Dictionary(uniqueKeysWithValues: nodes.map { ($0.path, $0) })
    XCTAssertEqual(
      byPath["/dev/null"],
      DeviceNode(
        path: "/dev/null", type: .characterDevice, rdev: try DevT(major: 1, minor: 3), driver: "mem"
      ))
    XCTAssertEqual(byPath["/dev/scull2"]?.driver, "scull")
    XCTAssertEqual(byPath["/dev/scull2"]?.rdev, try DevT(major: 254, minor: 2))
    XCTAssertEqual(byPath["/dev/log"]?.driver, "log")
    XCTAssertEqual(byPath["/tmp/orphan"]?.driver, nil)
    XCTAssertEqual(byPath["/tmp/orphan"]?.typeLetter, "c")
    XCTAssertEqual(byPath["/tmp/disk"]?.type, .blockDevice)
    XCTAssertEqual(byPath["/tmp/disk"]?.typeLetter, "b")
    XCTAssertNil(byPath["/tmp/fifo"])
    XCTAssertEqual(nodes.count, 12)
    // The walk opened nothing it did not close.
    XCTAssertEqual(vfs.openFileCount, 0)
  }

  /// The README's example: a device of one's own in a few lines.
  func testUserDeviceInAFewLines() throws {
    struct Hello: FileOperations {
      let text = Array("Hello from a Swift driver\n".utf8)
      func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
        throws(Errno) -> Int
      {
        guard offset < text.count else { return 0 }
        let n = min(buffer.count, text.count - Int(offset))
        buffer.copyBytes(from: text[Int(offset)..<Int(offset) + n])
        return n
      }
    }
    let major = try vfs.chrdevs.registerChrdev(name: "hello", fileOps: Hello())
    try vfs.devtmpfsCreateNode("hello", dev: DevT(major: major, minor: 0), mode: 0o444)

    let (fh, file) = try vfs.devOpen("/dev/hello", O_RDONLY)
    defer { vfs.release(fh) }
    XCTAssertEqual(
      String(decoding: try vfs.devRead(file, count: 100), as: UTF8.self),
      "Hello from a Swift driver\n")
    XCTAssertEqual(try vfs.devRead(file, count: 100, at: 26), [])
    XCTAssertEqual(devThrown { try vfs.devIoctl(file, 0x1234) }, .ENOTTY)  // the default
    XCTAssertEqual(major, 252)  // after scull (254) and log (253)
    XCTAssertEqual(vfs.chrdevs.allRegions.last?.name, "hello")
  }

  func testUnlinkedOpenNodeKeepsWorking() throws {
    let (fh, file) = try vfs.devOpen("/dev/zero", O_RDONLY)
    try vfs.unlink(try vfs.devResolve("/dev"), "zero")
    XCTAssertEqual(try vfs.devRead(file, count: 2), [0, 0])
    vfs.release(fh)
  }

  func testIoctlEncoding() {
    // Values from <asm-generic/ioctl.h> as C computes them.
    XCTAssertEqual(Ioctl.io(UInt8(ascii: "k"), 0), 0x6b00)
    XCTAssertEqual(Ioctl.iow(UInt8(ascii: "k"), 1, size: 4), 0x4004_6b01)
    XCTAssertEqual(Ioctl.ior(UInt8(ascii: "k"), 5, size: 4), 0x8004_6b05)
    XCTAssertEqual(Ioctl.iowr(UInt8(ascii: "k"), 9, size: 4), 0xc004_6b09)
    XCTAssertEqual(Ioctl.ior(UInt8(ascii: "V"), 0, size: 104), 0x8068_5600)  // VIDIOC_QUERYCAP
    let c = Ioctl.iowr(0x12, 0x34, size: 0x3fff)
    XCTAssertEqual(Ioctl.direction(c), Ioctl.read | Ioctl.write)
    XCTAssertEqual(Ioctl.type(c), 0x12)
    XCTAssertEqual(Ioctl.number(c), 0x34)
    XCTAssertEqual(Ioctl.size(c), 0x3fff)
  }
}
