import Foundation
import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

#if canImport(Glibc)
  import Glibc
#endif

/// Hostile values through the VFS API, as the FUSE bridge would pass them on: each
/// gets the errno the kernel gives, nothing changes, and afterwards the VFS still
/// works and its checker (`vfs.check()`) finds nothing.
final class HostileInputTests: XCTestCase {
  /// Still serving: a new file is written and read back; the checkers are clean.
  func assertStillWorks(_ vfs: VFS, file: StaticString = #filePath, line: UInt = #line) {
    let name = try! FileName("alive-\(UInt32.random(in: 0...UInt32.max))")
    do {
      let (inode, fh, f) = try vfs.create(
        vfs.root, name, mode: 0o644, flags: Int32(O_RDWR), cred: .root)
      defer {
        vfs.release(fh)
        vfs.forget(inode.ino, count: 1)
      }
      let data = Array("still here".utf8)
      XCTAssertEqual(try data.withUnsafeBytes { try vfs.write(f, from: $0, at: 0) }, data.count)
      var back = [UInt8](repeating: 0, count: 32)
      let n = try back.withUnsafeMutableBytes { try vfs.read(f, into: $0, at: 0) }
      XCTAssertEqual(Array(back[0..<n]), data, file: file, line: line)
      try vfs.unlink(vfs.root, name)
    } catch {
      XCTFail("the VFS stopped working: \(error)", file: file, line: line)
    }
    XCTAssertEqual(vfs.check(), [], "vfs.check()", file: file, line: line)
  }

  func assertErrno(
    _ expected: Errno, _ label: String, file: StaticString = #filePath, line: UInt = #line,
    _ body: () throws -> Void
  ) {
    XCTAssertEqual(vtErrno(body), expected, label, file: file, line: line)
  }

  // MARK: - Names

  func testNamesFromUserSpace() throws {
    let h = try MemfsHarness()
    let bad: [([UInt8], Errno)] = [
      (Array("a/b".utf8), .EINVAL), (Array("/".utf8), .EINVAL), ([0x61, 0, 0x62], .EINVAL),
      ([0], .EINVAL), ([], .EINVAL), ([UInt8](repeating: 0x61, count: 256), .ENAMETOOLONG),
      ([UInt8](repeating: 0x2f, count: 300), .ENAMETOOLONG),
    ]
    for (bytes, errno) in bad {
      assertErrno(errno, "validated(\(bytes.prefix(8)))") { _ = try FileName.validated(bytes) }
    }
    // 255 bytes (any byte but '/' and NUL, UTF-8 or not) is a name.
    let longest = [UInt8](repeating: 0xff, count: 255)
    let name = try FileName.validated(longest)
    let (made, fh, _) = try h.vfs.create(
      h.root, name, mode: 0o644, flags: Int32(O_RDWR), cred: .root)
    h.vfs.release(fh)
    h.vfs.forget(made.ino, count: 1)
    XCTAssertTrue(try h.names(h.root).contains(String(decoding: longest, as: UTF8.self)))
    let found = try h.vfs.lookup(h.root, name)
    XCTAssertTrue(found === made)
    h.vfs.forget(found.ino, count: 1)
    try h.vfs.unlink(h.root, name)
    assertStillWorks(h.vfs)
  }

  /// "." and ".." never reach a file system from the kernel (the path walk handles
  /// them), but if they did, each namespace op answers as the syscalls do.
  func testDotAndDotDotInEveryNamespaceOp() throws {
    let h = try MemfsHarness()
    let d = try h.dir(h.root, "d")
    let f = try h.file(d, "f", [1, 2, 3])
    let before = try h.names(d)
    for dot in [FileName("."), FileName("..")] {
      let label = dot.description
      assertErrno(.EEXIST, "mkdir \(label)") {
        _ = try h.vfs.mkdir(d, dot, mode: 0o755, cred: .root)
      }
      assertErrno(.EEXIST, "mknod \(label)") {
        _ = try h.vfs.mknod(
          d, dot, mode: FileType.fifo.rawValue | 0o644, rdev: DevT(rawValue: 0), cred: .root)
      }
      assertErrno(.EEXIST, "symlink \(label)") {
        _ = try h.vfs.symlink(d, dot, target: Array("x".utf8), cred: .root)
      }
      assertErrno(.EEXIST, "link to \(label)") { _ = try h.vfs.link(f, d, dot) }
      assertErrno(.EISDIR, "unlink \(label)") { try h.vfs.unlink(d, dot) }
      assertErrno(dot == "." ? .EINVAL : .ENOTEMPTY, "rmdir \(label)") { try h.vfs.rmdir(d, dot) }
      assertErrno(.EBUSY, "rename from \(label)") { try h.vfs.rename(d, dot, h.root, "e") }
      assertErrno(.EBUSY, "rename onto \(label)") { try h.vfs.rename(d, "f", d, dot) }
      // open(O_CREAT) of "." or "..": EISDIR (the kernel: an existing directory).
      assertErrno(.EISDIR, "create \(label)") {
        _ = try h.vfs.create(d, dot, mode: 0o644, flags: Int32(O_RDWR), cred: .root)
      }
    }
    XCTAssertEqual(try h.names(d), before)
    XCTAssertEqual(try h.readAll(f), [1, 2, 3])
    XCTAssertEqual(try h.stat(d).nlink, 2)
    assertStillWorks(h.vfs)
  }

  // MARK: - Offsets and sizes

  func testOffsetsAndSizes() throws {
    let h = try MemfsHarness(options: "size=1m")
    let f = try h.file(h.root, "f", vtBytes(100))
    let (fh, file) = try h.vfs.open(f, flags: Int32(O_RDWR), cred: .root)
    defer { h.vfs.release(fh) }
    var buffer = [UInt8](repeating: 0, count: 64)
    let one: [UInt8] = [7]
    func read(at offset: Int64) throws -> Int {
      try buffer.withUnsafeMutableBytes { try h.vfs.read(file, into: $0, at: offset) }
    }
    func write(_ bytes: [UInt8], at offset: Int64) throws -> Int {
      try bytes.withUnsafeBytes { try h.vfs.write(file, from: $0, at: offset) }
    }
    // Negative offsets: EINVAL (rw_verify_area).
    assertErrno(.EINVAL, "read at -1") { _ = try read(at: -1) }
    assertErrno(.EINVAL, "read at Int64.min") { _ = try read(at: .min) }
    assertErrno(.EINVAL, "write at -1") { _ = try write(one, at: -1) }
    assertErrno(.EINVAL, "write at Int64.min") { _ = try write(one, at: .min) }
    // Past the largest file: EFBIG (generic_write_check_limits: pos >= s_maxbytes).
    assertErrno(.EFBIG, "write at Int64.max") { _ = try write(one, at: .max) }
    // Reads far past the end: 0 bytes.
    XCTAssertEqual(try read(at: .max), 0)
    XCTAssertEqual(try read(at: .max - 1), 0)
    XCTAssertEqual(try read(at: 1 << 62), 0)
    // truncate: negative EINVAL; the largest size is taken and costs nothing.
    assertErrno(.EINVAL, "truncate -1") { try h.truncate(f, -1) }
    assertErrno(.EINVAL, "truncate Int64.min") { try h.truncate(f, .min) }
    try h.truncate(f, .max)
    XCTAssertEqual(try h.stat(f).size, .max)
    XCTAssertEqual(try read(at: .max - 10), 10, "a hole reads as zeros up to the end")
    XCTAssertEqual(Array(buffer[0..<10]), [UInt8](repeating: 0, count: 10))
    try h.truncate(f, 100)
    XCTAssertEqual(try h.readAll(f), vtBytes(100))
    // fallocate: the kernel's order of checks (vfs_fallocate).
    let fa = { (mode: Int32, off: Int64, len: Int64) in
      vtErrno { try h.vfs.fallocate(file, mode: mode, offset: off, length: len) }
    }
    XCTAssertEqual(fa(0, -1, 10), .EINVAL, "negative offset")
    XCTAssertEqual(fa(0, 0, 0), .EINVAL, "zero length")
    XCTAssertEqual(fa(0, 0, -5), .EINVAL, "negative length")
    XCTAssertEqual(fa(0, .max, 1), .EFBIG, "offset + length past the largest file")
    XCTAssertEqual(fa(0, .max - 10, .max - 10), .EFBIG, "offset + length overflows")
    XCTAssertEqual(fa(0x100, 0, 10), .EOPNOTSUPP, "an unknown mode bit")
    XCTAssertEqual(fa(Int32(bitPattern: 0x8000_0000), 0, 10), .EOPNOTSUPP, "the top bit")
    XCTAssertEqual(fa(Fallocate.punchHole, 0, 10), .EOPNOTSUPP, "punch without keep-size")
    XCTAssertEqual(fa(0, 0, 1 << 40), .ENOSPC, "1 TiB on a 1 MiB file system")
    XCTAssertEqual(fa(Fallocate.keepSize, 1 << 40, 1 << 40), .ENOSPC)
    XCTAssertEqual(try h.stat(f).size, 100, "a failed fallocate leaves the size")
    XCTAssertEqual(h.sb.statfsUsedBlocksForTest, 1, "and no pages behind")
    XCTAssertEqual(try h.readAll(f), vtBytes(100))
    // lseek.
    let seek = { (off: Int64, whence: Int32) in
      vtErrno { _ = try h.vfs.lseek(file, offset: off, whence: whence) }
    }
    XCTAssertEqual(seek(-1, Whence.set), .EINVAL)
    XCTAssertEqual(seek(.min, Whence.end), .EINVAL)
    XCTAssertEqual(seek(.max, Whence.end), .EINVAL, "size + offset overflows")
    XCTAssertEqual(seek(-101, Whence.end), .EINVAL)
    XCTAssertEqual(seek(0, 5), .EINVAL, "unknown whence")
    XCTAssertEqual(seek(0, -1), .EINVAL)
    XCTAssertEqual(seek(0, .max), .EINVAL)
    XCTAssertEqual(seek(-1, Whence.data), .ENXIO)
    XCTAssertEqual(seek(100, Whence.data), .ENXIO)
    XCTAssertEqual(seek(.max, Whence.hole), .ENXIO)
    XCTAssertEqual(try h.vfs.lseek(file, offset: -100, whence: Whence.end), 0)
    assertStillWorks(h.vfs)
  }

  // MARK: - Timestamps

  func testAbsurdTimestamps() throws {
    let h = try MemfsHarness()
    let f = try h.file(h.root, "f")
    // Any second count a timespec64 holds is kept as it is (tmpfs: s_time_min/max
    // are TIME64_MIN/MAX).
    for sec in [Int64.min, -1, 0, 1 << 40, Int64.max] {
      let t = Timestamp(sec: sec, nsec: 999_999_999)
      let st = try h.vfs.setattr(f, SetAttr(atime: .to(t), mtime: .to(t)), cred: .root)
      XCTAssertEqual(st.atime, t)
      XCTAssertEqual(st.mtime, t)
    }
    // Nanoseconds outside 0..<1e9: EINVAL (utimensat), and nothing changes.
    let before = try h.stat(f)
    for nsec: Int32 in [-1, 1_000_000_000, .max, .min] {
      let t = Timestamp(sec: 5, nsec: nsec)
      assertErrno(.EINVAL, "mtime nsec \(nsec)") {
        _ = try h.vfs.setattr(f, SetAttr(mtime: .to(t)), cred: .root)
      }
      assertErrno(.EINVAL, "atime nsec \(nsec)") {
        _ = try h.vfs.setattr(f, SetAttr(atime: .to(t)), cred: .root)
      }
    }
    XCTAssertEqual(try h.stat(f).mtime, before.mtime)
    XCTAssertEqual(try h.stat(f).atime, before.atime)
    assertStillWorks(h.vfs)
  }

  // MARK: - Flags

  func testUnknownRenameAndXattrFlags() throws {
    let h = try MemfsHarness()
    let a = try h.dir(h.root, "a")
    let f = try h.file(a, "f", [1])
    _ = try h.file(a, "g", [2])
    for raw: UInt32 in [8, 0x10, 0x8000_0000, UInt32.max, 3] {
      assertErrno(.EINVAL, "rename flags \(raw)") {
        try h.vfs.rename(a, "f", a, "g", flags: RenameFlags(rawValue: raw))
      }
    }
    XCTAssertEqual(try h.names(a).sorted(), ["f", "g"])
    XCTAssertEqual(try h.readAll(f), [1])
    // setxattr flags: only XATTR_CREATE and XATTR_REPLACE exist (EINVAL otherwise).
    for raw: Int32 in [4, 0x100, -1, .min] {
      assertErrno(.EINVAL, "setxattr flags \(raw)") {
        try h.vfs.setxattr(f, "user.x", [1], flags: XattrFlags(rawValue: raw), cred: .root)
      }
    }
    XCTAssertEqual(try h.vfs.listxattr(f, cred: .root), [])
    assertStillWorks(h.vfs)
  }

  // MARK: - Extended attribute names and values

  func testXattrNamesAndValues() throws {
    let h = try MemfsHarness()
    let f = try h.file(h.root, "f")
    let ops: [(String, (String, [UInt8]) throws -> Void)] = [
      ("set", { try h.vfs.setxattr(f, $0, $1, flags: [], cred: .root) }),
      ("get", { n, _ in _ = try h.vfs.getxattr(f, n, cred: .root) }),
      ("remove", { n, _ in try h.vfs.removexattr(f, n, cred: .root) }),
    ]
    let names: [(String, Errno)] = [
      ("noprefix", .EOPNOTSUPP), ("system.foo", .EOPNOTSUPP), ("USER.x", .EOPNOTSUPP),
      ("user", .EOPNOTSUPP), ("user.", .EINVAL), ("trusted.", .EINVAL),
      ("user." + String(repeating: "n", count: 251), .ERANGE),
      (String(repeating: "n", count: 10_000), .ERANGE),
    ]
    for (name, errno) in names {
      for (op, body) in ops {
        assertErrno(errno, "\(op)xattr \(name.prefix(20)) (\(name.utf8.count) bytes)") {
          try body(name, [1])
        }
      }
    }
    // An empty name is ERANGE (setxattr(2): the name copy is empty).
    assertErrno(.ERANGE, "setxattr \"\"") { try h.vfs.setxattr(f, "", [1], flags: [], cred: .root) }
    // 255 bytes is the longest name; 65536 the largest value.
    let longest = "user." + String(repeating: "n", count: 250)
    try h.vfs.setxattr(f, longest, [UInt8](repeating: 1, count: 65536), flags: [], cred: .root)
    assertErrno(.E2BIG, "a value of 65537 bytes") {
      try h.vfs.setxattr(f, "user.big", [UInt8](repeating: 1, count: 65537), flags: [], cred: .root)
    }
    assertErrno(.E2BIG, "a value of 16 MiB") {
      try h.vfs.setxattr(
        f, "user.big", [UInt8](repeating: 1, count: 16 << 20), flags: [], cred: .root)
    }
    XCTAssertEqual(try h.vfs.listxattr(f, cred: .root), [longest])
    XCTAssertEqual(try h.vfs.getxattr(f, longest, cred: .root).count, 65536)
    try h.vfs.removexattr(f, longest, cred: .root)
    assertStillWorks(h.vfs)
  }

  // MARK: - ioctl

  func testIoctlsADeviceDoesNotKnow() throws {
    let vfs = try VFS.standard(options: MountOptions())
    let (sfh, scull) = try vfs.devOpen("/dev/scull0", O_RDWR)
    defer { vfs.release(sfh) }
    let unknown: [(UInt32, Int, String)] = [
      (0x1234, 0, "another type"), (Ioctl.io(Scull.magic, 99), 0, "number past MAXNR"),
      (Ioctl.io(Scull.magic, 13), 0, "MAXNR + 1"),
      (Ioctl.iow(Scull.magic, 1, size: 8), 8, "SCULL_IOCSQUANTUM with size 8"),
      (Ioctl.ior(Scull.magic, 5, size: 2), 0, "SCULL_IOCGQUANTUM with size 2"),
      (Ioctl.iowr(Scull.magic, 7, size: 4), 4, "query with another direction"),
      (0xFFFF_FFFF, 0, "all bits"), (0x5401, 0, "TCGETS"),
    ]
    for (command, inputSize, label) in unknown {
      XCTAssertEqual(
        devThrown {
          try vfs.devIoctl(
            scull, command, input: [UInt8](repeating: 0, count: inputSize), outputSize: 16)
        }, .ENOTTY, "scull: \(label)")
    }
    // A known command with too little input: EFAULT (get_user fails); nothing set.
    XCTAssertEqual(
      devThrown { try vfs.devIoctl(scull, Scull.setQuantum, input: [1, 0]) }, .EFAULT)
    XCTAssertEqual(try vfs.devIoctl(scull, Scull.queryQuantum).result, Scull.defaultQuantum)
    // Out-of-range values: EINVAL.
    for bad: Int64 in [0, -1, Int64(Scull.maxQuantum) + 1, Int64(Int32.max) + 1, .min] {
      XCTAssertEqual(
        devThrown {
          try vfs.devIoctl(scull, Scull.tellQuantum, argument: UInt64(bitPattern: bad))
        }, .EINVAL, "tell quantum \(bad)")
    }
    XCTAssertEqual(try vfs.devIoctl(scull, Scull.queryQuantum).result, Scull.defaultQuantum)
    // Devices without ioctls, and a memfs file: ENOTTY.
    for path in ["/dev/null", "/dev/zero", "/dev/full", "/dev/urandom", "/dev/log"] {
      let (fh, f) = try vfs.devOpen(path, O_RDONLY)
      XCTAssertEqual(
        devThrown { try vfs.devIoctl(f, Scull.queryQuantum) }, .ENOTTY, path)
      XCTAssertEqual(
        devThrown {
          try vfs.devIoctl(f, 0xC010_6B09, input: [UInt8](repeating: 0, count: 16), outputSize: 16)
        },
        .ENOTTY, path)
      vfs.release(fh)
    }
    let (inode, fh, f) = try vfs.create(
      vfs.root, "plain", mode: 0o644, flags: Int32(O_RDWR), cred: .root)
    XCTAssertEqual(devThrown { try vfs.devIoctl(f, 0x5401) }, .ENOTTY, "memfs file")
    vfs.release(fh)
    vfs.forget(inode.ino, count: 1)
    // scull still works.
    XCTAssertEqual(try vfs.devWrite(scull, "abc"), 3)
    XCTAssertEqual(try vfs.devRead(scull, count: 3), Array("abc".utf8))
    assertStillWorks(vfs)
  }

  // MARK: - Control files

  func testControlWritesOfGarbage() throws {
    let h = try ProcHarness()
    let controls = ["proc/sys/vm/drop_caches", "proc/sys/fs/dcache-max", "proc/vfs/reset"]
    let garbage: [[UInt8]] = [
      [], [0], [0x0a], Array("\u{0}1".utf8), Array("1\u{0}".utf8), [0xff, 0xfe, 0xfd],
      Array("-1".utf8), Array("-0x1".utf8), Array("99999999999999999999999999999".utf8),
      Array("9223372036854775808".utf8), Array("-9223372036854775809".utf8),
      Array("1 2".utf8), Array("1,2".utf8), Array("1e9".utf8), Array("٣".utf8),
      Array("NaN".utf8), Array("+-1".utf8), Array("0b11".utf8),
      [UInt8](repeating: 0x31, count: 65), [UInt8](repeating: 0x20, count: 4096),
      [UInt8](repeating: 0x33, count: 4 << 20),
    ]
    let maxBefore = try h.read("proc/sys/fs/dcache-max")
    for path in controls {
      let inode = try h.inode(path)
      for bytes in garbage {
        assertProcErrno(.EINVAL, try h.write(inode, bytes), "\(path) \(bytes.prefix(12))")
      }
      // In range elsewhere, but not at offset 0: EINVAL.
      assertProcErrno(.EINVAL, try h.write(inode, Array("2".utf8), at: 1), "\(path) at 1")
      assertProcErrno(.EINVAL, try h.write(inode, Array("2".utf8), at: .max), "\(path) at max")
      assertProcErrno(.EINVAL, try h.write(inode, Array("2".utf8), at: -1), "\(path) at -1")
    }
    // Out of range for each control.
    let drop = try h.inode("proc/sys/vm/drop_caches")
    for text in ["0", "5", "-3", "2147483647"] {
      assertProcErrno(.EINVAL, try h.write(drop, text), text)
    }
    let max = try h.inode("proc/sys/fs/dcache-max")
    for text in ["0", "-5", "2147483648"] { assertProcErrno(.EINVAL, try h.write(max, text), text) }
    let reset = try h.inode("proc/vfs/reset")
    for text in ["0", "2", "-1"] { assertProcErrno(.EINVAL, try h.write(reset, text), text) }
    XCTAssertEqual(try h.read("proc/sys/fs/dcache-max"), maxBefore, "nothing was taken")
    // The good values still are.
    try h.write(drop, "3\n")
    try h.write(reset, "1")
    try h.write(max, "1000\n")
    XCTAssertEqual(try h.read("proc/sys/fs/dcache-max"), "1000\n")
    XCTAssertEqual(try h.read("proc/vfs/check"), "ok\n")
    assertStillWorks(h.vfs)
  }
}

extension HostileInputTests {
  /// The checker while another thread frees an unlinked 64 MiB file (its last
  /// close: the FUSE bridge serves RELEASE on any thread). The inode is marked
  /// evicted under the inode-cache lock before memfs frees its pages and the
  /// superblock's inode counter drops, and `check()` does not wait for that: it
  /// must still not report the inode being freed.
  func testCheckerWhileAnotherThreadEvicts() throws {
    let h = try MemfsHarness()
    var problems: [String] = []
    for round in 0..<3 {
      let f = try h.file(h.root, "big\(round)")
      let (fh, file) = try h.vfs.open(f, flags: Int32(O_RDWR), cred: .root)
      let chunk = [UInt8](repeating: 0x78, count: 1 << 20)
      for i in 0..<64 {
        _ = try chunk.withUnsafeBytes { try h.vfs.write(file, from: $0, at: Int64(i) << 20) }
      }
      try h.vfs.unlink(h.root, try FileName("big\(round)"))
      let done = DispatchSemaphore(value: 0)
      let vfs = h.vfs
      Thread.detachNewThread {
        vfs.release(fh)
        done.signal()
      }
      while done.wait(timeout: .now()) == .timedOut {
        problems += h.vfs.check()
      }
      problems += h.vfs.check()
    }
    XCTAssertEqual(Array(Set(problems)).sorted(), [], "vfs.check() while an inode is evicted")
    assertStillWorks(h.vfs)
  }
}

extension SuperBlock {
  /// The blocks the superblock counts as used (statfs's f_blocks - f_bfree).
  fileprivate var statfsUsedBlocksForTest: UInt64 { usedBlocks }
}
