import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// File data in memfs: pages, holes, sizes, seeks, fallocate, open flags.
final class FileDataTests: MemfsTestCase {
  func testWriteAndReadAtOffsetsWithHolesReadingZero() throws {
    let f = try h.file(root, "f")
    XCTAssertEqual(try h.write(f, [1, 2, 3], at: 0), 3)
    XCTAssertEqual(try h.write(f, [9, 9], at: 10000), 2)
    XCTAssertEqual(try h.stat(f).size, 10002)
    let all = try h.readAll(f)
    XCTAssertEqual(all.count, 10002)
    XCTAssertEqual(Array(all[0..<3]), [1, 2, 3])
    XCTAssertTrue(all[3..<10000].allSatisfy { $0 == 0 }, "a hole reads as zeros")
    XCTAssertEqual(Array(all[10000...]), [9, 9])
    XCTAssertEqual(try h.stat(f).blocks, 16, "pages 0 and 2 are stored, page 1 is a hole")
    XCTAssertEqual(h.sb.usedBlocks, 2)
    XCTAssertEqual(try h.read(f, at: 10001, count: 100), [9], "a read stops at the end")
    XCTAssertEqual(try h.read(f, at: 10002, count: 100), [], "at the end: 0 bytes")
    XCTAssertEqual(try h.read(f, at: 1 << 40, count: 10), [])
    // A write across a page boundary.
    let span = vtBytes(5000, seed: 7)
    XCTAssertEqual(try h.write(f, span, at: 4000), 5000)
    XCTAssertEqual(try h.read(f, at: 4000, count: 5000), span)
    XCTAssertEqual(Array(try h.read(f, at: 0, count: 3)), [1, 2, 3])
    XCTAssertEqual(try h.stat(f).blocks, 24)
    XCTAssertEqual(try h.write(f, [], at: 1 << 50), 0, "an empty write changes nothing")
    XCTAssertEqual(try h.stat(f).size, 10002)
  }

  func testWriteMovesMtimeAndCtime() throws {
    let f = try h.file(root, "f")
    h.age(f)
    try h.write(f, [1], at: 0)
    XCTAssertGreaterThan(try h.stat(f).mtime.sec, 1000)
    XCTAssertGreaterThan(try h.stat(f).ctime.sec, 1000)
    h.age(f)
    try h.truncate(f, 0)
    XCTAssertGreaterThan(try h.stat(f).mtime.sec, 1000, "truncate moves mtime")
    XCTAssertGreaterThan(try h.stat(f).ctime.sec, 1000)
  }

  func testTruncateDownThenUpZeroesTheTail() throws {
    let f = try h.file(root, "f", [UInt8](repeating: 0x55, count: 3 * 4096))
    try h.truncate(f, 100)
    XCTAssertEqual(try h.stat(f).size, 100)
    XCTAssertEqual(try h.stat(f).blocks, 8)
    XCTAssertEqual(h.sb.usedBlocks, 1)
    try h.truncate(f, 3 * 4096)
    let all = try h.readAll(f)
    XCTAssertTrue(all[0..<100].allSatisfy { $0 == 0x55 })
    XCTAssertTrue(all[100...].allSatisfy { $0 == 0 }, "old data must not come back")
    XCTAssertEqual(try h.stat(f).blocks, 8, "extending stores nothing")
    try h.truncate(f, 0)
    XCTAssertEqual(try h.stat(f).blocks, 0)
    XCTAssertEqual(h.sb.usedBlocks, 0)
    try h.truncate(f, 4096)
    XCTAssertEqual(try h.readAll(f), [UInt8](repeating: 0, count: 4096))
  }

  func testTruncateToOneTebibyteAllocatesNothing() throws {
    let f = try h.file(root, "f")
    try h.truncate(f, 1 << 40)
    XCTAssertEqual(try h.stat(f).size, 1 << 40)
    XCTAssertEqual(try h.stat(f).blocks, 0)
    XCTAssertEqual(h.sb.usedBlocks, 0)
    XCTAssertEqual(try h.read(f, at: (1 << 40) - 3, count: 10), [0, 0, 0])
    XCTAssertEqual(try h.lseek(f, 0, Whence.hole), 0)
    XCTAssertEqual(vtErrno { _ = try self.h.lseek(f, 0, Whence.data) }, .ENXIO)
    try h.write(f, [1], at: 1 << 39)
    XCTAssertEqual(try h.stat(f).blocks, 8)
    try h.truncate(f, 0)
    XCTAssertEqual(h.sb.usedBlocks, 0)
  }

  func testWriteAtTwoToTheSixtySecond() throws {
    let f = try h.file(root, "f")
    let at: Int64 = 1 << 62
    XCTAssertEqual(try h.write(f, [0xAB, 0xCD], at: at), 2)
    XCTAssertEqual(try h.stat(f).size, at + 2)
    XCTAssertEqual(try h.stat(f).blocks, 8)
    XCTAssertEqual(h.sb.usedBlocks, 1)
    XCTAssertEqual(try h.read(f, at: at - 1, count: 4), [0, 0xAB, 0xCD])
    XCTAssertEqual(try h.lseek(f, 0, Whence.data), at & ~4095)
    XCTAssertEqual(try h.lseek(f, at, Whence.hole), at + 2)
  }

  func testWritesPastTheMaximumFileSizeAreEFBIG() throws {
    let f = try h.file(root, "f")
    let max = h.sb.maxFileSize
    XCTAssertEqual(vtErrno { try self.h.write(f, [1, 2], at: max - 1) }, .EFBIG)
    XCTAssertEqual(vtErrno { try self.h.write(f, [1], at: max) }, .EFBIG)
    XCTAssertEqual(try h.write(f, [1], at: max - 1), 1, "the last byte can be written")
    XCTAssertEqual(try h.stat(f).size, max)
    XCTAssertEqual(vtErrno { try self.h.write(f, [1], at: -1) }, .EINVAL)
    XCTAssertEqual(vtErrno { _ = try self.h.read(f, at: -1, count: 1) }, .EINVAL)
    XCTAssertEqual(
      vtErrno { try self.h.fallocate(f, mode: 0, max - 10, 20) }, .EFBIG)
  }

  func testSeekDataAndSeekHole() throws {
    let f = try h.file(root, "f")
    try h.write(f, [1], at: 0)
    try h.write(f, [2], at: 8192)
    try h.truncate(f, 20000)
    XCTAssertEqual(try h.lseek(f, 0, Whence.data), 0)
    XCTAssertEqual(try h.lseek(f, 100, Whence.data), 100)
    XCTAssertEqual(try h.lseek(f, 0, Whence.hole), 4096)
    XCTAssertEqual(try h.lseek(f, 5000, Whence.data), 8192)
    XCTAssertEqual(try h.lseek(f, 5000, Whence.hole), 5000)
    XCTAssertEqual(try h.lseek(f, 8192, Whence.hole), 12288)
    XCTAssertEqual(vtErrno { _ = try self.h.lseek(f, 12288, Whence.data) }, .ENXIO)
    XCTAssertEqual(try h.lseek(f, 19999, Whence.hole), 19999)
    XCTAssertEqual(vtErrno { _ = try self.h.lseek(f, 20000, Whence.data) }, .ENXIO)
    XCTAssertEqual(vtErrno { _ = try self.h.lseek(f, 20000, Whence.hole) }, .ENXIO)
    XCTAssertEqual(vtErrno { _ = try self.h.lseek(f, -1, Whence.data) }, .ENXIO)
    XCTAssertEqual(try h.lseek(f, 7, Whence.set), 7)
    XCTAssertEqual(try h.lseek(f, -5, Whence.end), 19995)
    XCTAssertEqual(vtErrno { _ = try self.h.lseek(f, -20001, Whence.end) }, .EINVAL)
    XCTAssertEqual(vtErrno { _ = try self.h.lseek(f, 0, 17) }, .EINVAL)
    // A file that is all data has its hole at the end.
    let g = try h.file(root, "g", vtBytes(8192))
    XCTAssertEqual(try h.lseek(g, 10, Whence.hole), 8192)
    XCTAssertEqual(try h.lseek(g, 4096, Whence.data), 4096)
  }

  func testFallocateModes() throws {
    let f = try h.file(root, "f", vtBytes(100))
    try h.fallocate(f, mode: 0, 0, 3 * 4096)
    XCTAssertEqual(try h.stat(f).size, 3 * 4096, "mode 0 extends the size")
    XCTAssertEqual(try h.stat(f).blocks, 24)
    XCTAssertEqual(Array(try h.read(f, at: 0, count: 100)), vtBytes(100), "data kept")
    XCTAssertEqual(try h.read(f, at: 100, count: 10), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    try h.fallocate(f, mode: Fallocate.keepSize, 3 * 4096, 2 * 4096)
    XCTAssertEqual(try h.stat(f).size, 3 * 4096, "KEEP_SIZE keeps the size")
    XCTAssertEqual(try h.stat(f).blocks, 40)
    XCTAssertEqual(h.sb.usedBlocks, 5)
    try h.fallocate(f, mode: 0, 100, 10)
    XCTAssertEqual(try h.stat(f).size, 3 * 4096, "inside the file: no change")
    XCTAssertEqual(try h.stat(f).blocks, 40)
  }

  func testPunchHoleFreesWholePagesAndZeroesPartialOnes() throws {
    let f = try h.file(root, "f", [UInt8](repeating: 7, count: 4 * 4096))
    h.age(f)
    try h.fallocate(f, mode: Fallocate.punchHole | Fallocate.keepSize, 100, 2 * 4096)
    XCTAssertEqual(try h.stat(f).size, 4 * 4096)
    XCTAssertEqual(try h.stat(f).blocks, 24, "page 1 freed; pages 0 and 2 only zeroed in part")
    XCTAssertGreaterThan(try h.stat(f).mtime.sec, 1000)
    XCTAssertGreaterThan(try h.stat(f).ctime.sec, 1000)
    let all = try h.readAll(f)
    XCTAssertTrue(all[0..<100].allSatisfy { $0 == 7 })
    XCTAssertTrue(all[100..<(100 + 8192)].allSatisfy { $0 == 0 })
    XCTAssertTrue(all[(100 + 8192)...].allSatisfy { $0 == 7 })
    XCTAssertEqual(try h.lseek(f, 0, Whence.hole), 4096)
    XCTAssertEqual(try h.lseek(f, 4096, Whence.data), 8192)
    XCTAssertEqual(h.sb.usedBlocks, 3)
  }

  /// Blocks preallocated past the end with KEEP_SIZE are legal (tmpfs keeps
  /// them and counts them in st_blocks); the checkers must accept them.
  func testPreallocationPastTheEndIsConsistent() throws {
    let f = try h.file(root, "f", vtBytes(10))
    try h.fallocate(f, mode: Fallocate.keepSize, 8192, 4096)
    XCTAssertEqual(try h.stat(f).size, 10)
    XCTAssertEqual(try h.stat(f).blocks, 16)
    XCTAssertEqual(vfs.check(), [], "a page past EOF from fallocate(KEEP_SIZE) is no corruption")
    try h.truncate(f, 5)
    XCTAssertEqual(try h.stat(f).blocks, 8, "truncate drops the preallocation")
  }

  /// tmpfs frees every page the punched range covers, even past EOF (checked
  /// on /dev/shm: a 5000-byte file punched at 4096+8192 goes from 16 to 8
  /// blocks; blocks preallocated with KEEP_SIZE past EOF are freed by a punch).
  func testPunchHoleReachingPastTheEndFreesTheLastPage() throws {
    let f = try h.file(root, "f", vtBytes(5000))
    XCTAssertEqual(try h.stat(f).blocks, 16)
    try h.fallocate(f, mode: Fallocate.punchHole | Fallocate.keepSize, 4096, 8192)
    XCTAssertEqual(try h.stat(f).size, 5000)
    XCTAssertEqual(Array(try h.readAll(f)[4096...]), [UInt8](repeating: 0, count: 904))
    XCTAssertEqual(try h.stat(f).blocks, 8, "page 1 lies wholly inside the hole: tmpfs frees it")
    XCTAssertEqual(h.sb.usedBlocks, 1)
  }

  func testPunchHoleFreesBlocksPreallocatedPastTheEnd() throws {
    let f = try h.file(root, "f", vtBytes(4096))
    try h.fallocate(f, mode: Fallocate.keepSize, 16 * 4096, 2 * 4096)
    XCTAssertEqual(try h.stat(f).blocks, 24)
    try h.fallocate(f, mode: Fallocate.punchHole | Fallocate.keepSize, 15 * 4096, 4 * 4096)
    XCTAssertEqual(try h.stat(f).blocks, 8, "tmpfs punches past EOF too")
    XCTAssertEqual(h.sb.usedBlocks, 1)
  }

  func testFallocateBadArgumentsAndModes() throws {
    let f = try h.file(root, "f", [1])
    XCTAssertEqual(
      vtErrno { try self.h.fallocate(f, mode: Fallocate.punchHole, 0, 1) }, .EOPNOTSUPP)
    XCTAssertEqual(vtErrno { try self.h.fallocate(f, mode: 0x10, 0, 1) }, .EOPNOTSUPP, "ZERO_RANGE")
    XCTAssertEqual(vtErrno { try self.h.fallocate(f, mode: 0x08, 0, 1) }, .EOPNOTSUPP, "COLLAPSE")
    XCTAssertEqual(vtErrno { try self.h.fallocate(f, mode: 0, 0, 0) }, .EINVAL)
    XCTAssertEqual(vtErrno { try self.h.fallocate(f, mode: 0, -1, 10) }, .EINVAL)
    XCTAssertEqual(vtErrno { try self.h.fallocate(f, mode: 0, 0, -10) }, .EINVAL)
    XCTAssertEqual(
      vtErrno { try self.h.fallocate(f, mode: 0, Int64.max - 5, 10) }, .EFBIG,
      "offset+len overflows")
    let (fh, ro) = try vfs.open(f, flags: Int32(O_RDONLY), cred: .root)
    XCTAssertEqual(vtErrno { try self.vfs.fallocate(ro, mode: 0, offset: 0, length: 1) }, .EBADF)
    vfs.release(fh)
    XCTAssertEqual(try h.stat(f).size, 1)
    XCTAssertEqual(try h.stat(f).blocks, 8)
  }

  func testOpenAppendWritesAtTheEnd() throws {
    let f = try h.file(root, "f", [1, 2, 3])
    XCTAssertEqual(try h.write(f, [4, 5], at: 0, flags: Int32(O_WRONLY) | OpenFlags.append), 2)
    XCTAssertEqual(try h.readAll(f), [1, 2, 3, 4, 5])
  }

  func testOpenTruncEmptiesTheFile() throws {
    let f = try h.file(root, "f", vtBytes(3 * 4096))
    let (fh, _) = try vfs.open(f, flags: Int32(O_WRONLY) | OpenFlags.truncate, cred: .root)
    vfs.release(fh)
    XCTAssertEqual(try h.stat(f).size, 0)
    XCTAssertEqual(try h.stat(f).blocks, 0)
    XCTAssertEqual(h.sb.usedBlocks, 0)
  }

  /// Linux truncates on open(O_RDONLY|O_TRUNC) (checked on /dev/shm), and with
  /// FUSE_CAP_ATOMIC_O_TRUNC the kernel leaves that truncation to the daemon.
  func testOpenReadOnlyWithTruncTruncatesAsLinuxDoes() throws {
    let f = try h.file(root, "f", vtBytes(100))
    let (fh, _) = try vfs.open(f, flags: Int32(O_RDONLY) | OpenFlags.truncate, cred: .root)
    vfs.release(fh)
    XCTAssertEqual(try h.stat(f).size, 0)
  }

  func testReadsAndWritesNeedTheRightAccessMode() throws {
    let f = try h.file(root, "f", [1])
    let (rfh, rf) = try vfs.open(f, flags: Int32(O_RDONLY), cred: .root)
    let (wfh, wf) = try vfs.open(f, flags: Int32(O_WRONLY), cred: .root)
    defer {
      vfs.release(rfh)
      vfs.release(wfh)
    }
    var one: [UInt8] = [9]
    XCTAssertEqual(
      vtErrno { _ = try one.withUnsafeBytes { try self.vfs.write(rf, from: $0, at: 0) } }, .EBADF)
    XCTAssertEqual(
      vtErrno { _ = try one.withUnsafeMutableBytes { try self.vfs.read(wf, into: $0, at: 0) } },
      .EBADF)
    XCTAssertEqual(try h.readAll(f), [1])
    XCTAssertEqual(
      vtErrno { _ = try self.vfs.open(self.root, flags: Int32(O_WRONLY), cred: .root) }, .EISDIR)
    XCTAssertEqual(
      vtErrno { _ = try self.vfs.open(f, flags: OpenFlags.directory, cred: .root) }, .ENOTDIR)
  }

  // MARK: limits

  func testStatfsReportsTheLimitsAndUsage() throws {
    let small = try MemfsHarness(options: "size=1m,nr_inodes=100")
    var st = small.vfs.statfs(small.root)
    XCTAssertEqual(st.blockSize, 4096)
    XCTAssertEqual(st.blocks, 256)
    XCTAssertEqual(st.blocksFree, 256)
    XCTAssertEqual(st.blocksAvailable, 256)
    XCTAssertEqual(st.files, 100)
    XCTAssertEqual(st.filesFree, 99, "the root is an inode")
    XCTAssertEqual(st.nameMax, 255)
    try small.file(small.root, "f", vtBytes(10 * 4096 + 1))
    try small.dir(small.root, "d")
    st = small.vfs.statfs(small.root)
    XCTAssertEqual(st.blocksFree, 256 - 11)
    XCTAssertEqual(st.blocksAvailable, 256 - 11)
    XCTAssertEqual(st.filesFree, 97)
    XCTAssertEqual(small.sb.magic, MemfsType.magic)
    assertConsistent(small.vfs)
  }

  func testSizeLimitGivesShortWritesThenENOSPCAndLosesNothing() throws {
    let small = try MemfsHarness(options: "size=16k")
    XCTAssertEqual(small.sb.maxBlocks, 4)
    let f = try small.file(small.root, "f", vtBytes(3 * 4096, seed: 3))
    let g = try small.file(small.root, "g")
    XCTAssertEqual(try small.write(g, vtBytes(2 * 4096, seed: 4), at: 0), 4096, "a short write")
    XCTAssertEqual(try small.stat(g).size, 4096)
    XCTAssertEqual(vtErrno { try small.write(g, [1], at: 4096) }, .ENOSPC)
    XCTAssertEqual(vtErrno { try small.write(f, [1], at: 5 * 4096) }, .ENOSPC)
    XCTAssertEqual(try small.stat(f).size, 3 * 4096, "a failed write leaves the size")
    XCTAssertEqual(
      vtErrno { try small.fallocate(f, mode: 0, 0, 5 * 4096) }, .ENOSPC)
    XCTAssertEqual(small.sb.usedBlocks, 4, "a failed fallocate reserves nothing")
    XCTAssertEqual(try small.stat(f).size, 3 * 4096)
    // Overwriting stored pages needs no space.
    XCTAssertEqual(try small.write(f, [0xEE], at: 0), 1)
    var want = vtBytes(3 * 4096, seed: 3)
    want[0] = 0xEE
    XCTAssertEqual(try small.readAll(f), want)
    XCTAssertEqual(try small.readAll(g), Array(vtBytes(2 * 4096, seed: 4)[0..<4096]))
    XCTAssertEqual(small.vfs.statfs(small.root).blocksFree, 0)
    // Freeing space makes room again.
    try small.vfs.unlink(small.root, "g")
    XCTAssertEqual(try small.write(f, [5], at: 3 * 4096), 1)
    XCTAssertEqual(small.sb.usedBlocks, 4)
    try small.truncate(f, 0)
    XCTAssertEqual(small.sb.usedBlocks, 0)
    assertConsistent(small.vfs)
  }

  /// tmpfs checks a fallocate's length against the limit before it walks the
  /// range (shmem_fallocate: "end - start > sbinfo->max_blocks" is ENOSPC).
  func testHugeFallocateOnASmallMountFailsFast() throws {
    let small = try MemfsHarness(options: "size=1m")
    let f = try small.file(small.root, "f")
    let start = Date()
    XCTAssertEqual(vtErrno { try small.fallocate(f, mode: 0, 0, 1 << 32) }, .ENOSPC)
    let seconds = Date().timeIntervalSince(start)
    XCTAssertLessThan(seconds, 0.1, "4 GiB of pages (1M) walked one by one before ENOSPC")
    XCTAssertEqual(small.sb.usedBlocks, 0)
  }

  func testInodeLimitGivesENOSPC() throws {
    let small = try MemfsHarness(options: "nr_inodes=4")
    try small.file(small.root, "a")
    try small.dir(small.root, "b")
    try small.symlink(small.root, "c", "a")
    XCTAssertEqual(small.sb.usedInodes, 4)
    XCTAssertEqual(vtErrno { try small.file(small.root, "d") }, .ENOSPC)
    XCTAssertEqual(vtErrno { try small.dir(small.root, "d") }, .ENOSPC)
    XCTAssertEqual(vtErrno { try small.symlink(small.root, "d", "a") }, .ENOSPC)
    XCTAssertEqual(
      vtErrno {
        _ = try small.vfs.mknod(
          small.root, "d", mode: FileType.fifo.rawValue | 0o644, rdev: .zero, cred: .root)
      }, .ENOSPC)
    XCTAssertEqual(vtErrno { _ = try small.walk("d") }, .ENOENT, "no entry is left behind")
    XCTAssertEqual(
      vtErrno { try small.link(try small.walk("a"), small.root, "a2") }, .ENOSPC,
      "tmpfs charges a hard link as an inode")
    XCTAssertEqual(try small.names(small.root).sorted(), ["a", "b", "c"])
    XCTAssertEqual(small.vfs.statfs(small.root).filesFree, 0)
    try small.vfs.unlink(small.root, "c")
    XCTAssertNoThrow(try small.file(small.root, "d"))
    assertConsistent(small.vfs)
  }
}
