// mkdir and rmdir on ext2, and the buffer-cache pieces they lean on:
// BufferCache.getZeroed() (sb_getblk() + memset() + fill, no disk read, a
// page zeroed once) and the PagePool's reuse of freed pages. The ext2 tests
// work on fresh `mke2fs -t ext2` images and end with `e2fsck -fn`.

import Foundation
import SwiftVFS
import XCTest

@testable import SwiftVFSBlock

#if canImport(Glibc)
  import Glibc
#endif

final class Ext2MkdirTests: XCTestCase {
  private var scratch: ScratchDirectory!
  private var directory: String { scratch.path }

  override func setUpWithError() throws {
    scratch = try ScratchDirectory("swiftvfs-ext2mkdir")
  }

  override func tearDownWithError() throws {
    try? scratch?.remove()
    scratch = nil
  }

  // MARK: - Helpers

  private func makeImage(blockSize: Int, size: String = "32M") throws -> String {
    let image = directory + "/m.img"
    let (status, output) = try runTool(
      "/usr/sbin/mke2fs", ["-q", "-F", "-t", "ext2", "-b", "\(blockSize)", image, size])
    XCTAssertEqual(status, 0, output)
    return image
  }

  private func mount(_ image: String) throws -> VFS {
    let vfs = VFS()
    try vfs.filesystems.register(Ext2FileSystem())
    try vfs.mount("ext2", at: "/", options: MountOptions(parsing: "source=\(image)"))
    return vfs
  }

  /// `e2fsck -fn` must exit 0 and report no problem.
  private func assertClean(_ image: String, file: StaticString = #filePath, line: UInt = #line)
    throws
  {
    let (status, output) = try runTool("/usr/sbin/e2fsck", ["-fn", image])
    XCTAssertEqual(status, 0, "e2fsck -fn:\n\(output)", file: file, line: line)
    for word in ["Fix?", "Clear?", "wrong", "Salvage?", "Relocate?", "Connect to"] {
      XCTAssertFalse(output.contains(word), "e2fsck -fn:\n\(output)", file: file, line: line)
    }
  }

  /// The physical block of logical block `index` of `path` (debugfs bmap).
  private func physicalBlock(_ image: String, _ path: String, _ index: Int) throws -> UInt64? {
    let (status, output) = try runTool("/usr/sbin/debugfs", ["-R", "bmap \(path) \(index)", image])
    XCTAssertEqual(status, 0, output)
    let numbers = output.split(whereSeparator: \.isNewline).compactMap {
      UInt64($0.trimmingCharacters(in: .whitespaces))
    }
    return numbers.last
  }

  /// `count` bytes of the image file at `offset`.
  private func imageBytes(_ image: String, at offset: UInt64, count: Int) throws -> [UInt8] {
    let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: image))
    defer { try? handle.close() }
    try handle.seek(toOffset: offset)
    return [UInt8](try handle.read(upToCount: count) ?? Data())
  }

  // MARK: - Buffer cache

  private func makeBuffers(blockSize: Int) throws -> (BufferCache, BlockDevice, RamDisk) {
    let disk = RamDisk(sizeInBytes: 1 << 20)
    let device = try BlockDevice(
      name: "ram0", dev: DevT(major: 1, minor: 0), driver: disk, logicalBlockSize: 512)
    let buffers = try BufferCache(cache: PageCache(), device: device, blockSize: blockSize)
    return (buffers, device, disk)
  }

  /// A cached buffer with old bytes comes back all zeros but what the fill
  /// wrote, dirty and up to date, without a read; a block never cached
  /// comes back zero too; the bytes reach the device at sync.
  func testGetZeroedClearsACachedBufferWithoutReading() throws {
    let (buffers, device, disk) = try makeBuffers(blockSize: 4096)
    let old = [UInt8](repeating: 0xAB, count: 4096)
    try old.withUnsafeBytes { try disk.write(at: 5 * 4096, from: $0) }
    let cached = try buffers.read(block: 5)
    XCTAssertEqual(cached.bytes, old)
    cached.release()
    let reads = device.stats.readsCompleted

    let reused = try buffers.getZeroed(block: 5) { bytes in
      bytes[0] = 1
      bytes[4095] = 2
    }
    var expected = [UInt8](repeating: 0, count: 4096)
    expected[0] = 1
    expected[4095] = 2
    XCTAssertEqual(reused.bytes, expected, "a cached buffer must be cleared before the fill")
    XCTAssertTrue(reused.isDirty)
    XCTAssertTrue(reused.isUptodate)
    reused.release()

    let fresh = try buffers.getZeroed(block: 7)
    XCTAssertEqual(fresh.bytes, [UInt8](repeating: 0, count: 4096))
    XCTAssertTrue(fresh.isDirty)
    fresh.release()
    XCTAssertEqual(device.stats.readsCompleted, reads, "getZeroed must not read the device")

    try buffers.sync()
    var onDisk = [UInt8](repeating: 0xEE, count: 4096)
    try onDisk.withUnsafeMutableBytes { try disk.read(at: 5 * 4096, into: $0) }
    XCTAssertEqual(onDisk, expected)
    XCTAssertThrowsError(try buffers.getZeroed(block: buffers.blockCount)) {
      XCTAssertEqual($0 as? Errno, .EIO)
    }
  }

  /// A page the pool gets back is handed out again first (no new fault),
  /// and a buffer built on such a page reads as zeros, not the old bytes.
  func testPoolReusesFreedPagesAndNewBuffersOnThemAreZero() throws {
    let pool = PagePool()
    let page = pool.allocate()
    memset(page, 0xCD, PagePool.pageSize)
    pool.release(page)
    let again = pool.allocate()
    XCTAssertEqual(again, page, "the last page freed must be the next handed out")
    pool.release(again)

    let (buffers, _, disk) = try makeBuffers(blockSize: 4096)
    let old = [UInt8](repeating: 0x5A, count: 4096)
    try old.withUnsafeBytes { try disk.write(at: 3 * 4096, from: $0) }
    let bh = try buffers.read(block: 3)
    XCTAssertEqual(bh.bytes, old)
    bh.release()
    // Freed (bforget()): its page goes back to the pool with 0x5A in it.
    buffers.forget(block: 3)
    let next = try buffers.get(block: 9)
    XCTAssertEqual(next.bytes, [UInt8](repeating: 0, count: 4096))
    XCTAssertFalse(next.isUptodate)
    next.release()
    let zeroed = try buffers.getZeroed(block: 10)
    XCTAssertEqual(zeroed.bytes, [UInt8](repeating: 0, count: 4096))
  }

  // MARK: - ext2

  /// A new directory's first block holds "." and ".." and zeros, even when
  /// it reuses a freed block whose old bytes are still on the disk (the
  /// block is never read, only written whole).
  func testNewDirectoryBlockIsZeroButItsEntries() throws {
    for blockSize in [1024, 4096] {
      // One block group, so the directory's block comes from the group the
      // file's blocks were freed in (find_group_dir() has no other choice).
      let image = try makeImage(blockSize: blockSize, size: blockSize == 1024 ? "8M" : "32M")
      var vfs = try mount(image)
      let (_, fh, file) = try vfs.create(
        vfs.root, FileName("junk"), mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
      let ones = [UInt8](repeating: 0xFF, count: 16 * blockSize)
      _ = try ones.withUnsafeBytes { try vfs.write(file, from: $0, at: 0) }
      vfs.release(fh)
      vfs.unmountAll()
      let junkBlock = try XCTUnwrap(try physicalBlock(image, "/junk", 0))
      XCTAssertEqual(
        try imageBytes(image, at: junkBlock * UInt64(blockSize), count: blockSize),
        Array(ones.prefix(blockSize)))

      vfs = try mount(image)
      try vfs.unlink(vfs.root, FileName("junk"))
      let dir = try vfs.mkdir(vfs.root, FileName("d"), mode: 0o755, cred: .root)
      let ino = try XCTUnwrap(UInt32(exactly: try vfs.getattr(dir).ino))
      vfs.unmountAll()
      try assertClean(image)

      let block = try XCTUnwrap(try physicalBlock(image, "/d", 0))
      XCTAssertEqual(block, junkBlock, "the test wants the freed block reused")
      let bytes = try imageBytes(image, at: block * UInt64(blockSize), count: blockSize)
      var expected = [UInt8](repeating: 0, count: blockSize)
      func put32(_ offset: Int, _ value: UInt32) {
        for i in 0..<4 { expected[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
      }
      put32(0, ino)
      expected[4] = 12
      expected[6] = 1
      expected[7] = 2  // EXT2_FT_DIR
      expected[8] = 0x2E
      put32(12, 2)
      expected[16] = UInt8(truncatingIfNeeded: blockSize - 12)
      expected[17] = UInt8(truncatingIfNeeded: (blockSize - 12) >> 8)
      expected[18] = 2
      expected[19] = 2
      expected[20] = 0x2E
      expected[21] = 0x2E
      XCTAssertEqual(bytes, expected, "block size \(blockSize)")
      try FileManager.default.removeItem(atPath: image)
    }
  }

  /// A directory removed while open stays usable (no links, empty) until
  /// it is closed or the file system is unmounted, which frees it: e2fsck
  /// finds nothing and the inode and block counts come back.
  func testRmdirOfAnOpenDirectoryFreesItAtUnmount() throws {
    let image = try makeImage(blockSize: 1024, size: "8M")
    var vfs = try mount(image)
    let before = vfs.statfs(vfs.root)
    let dir = try vfs.mkdir(vfs.root, FileName("gone"), mode: 0o755, cred: .root)
    let (fh, _) = try vfs.open(dir, flags: O_RDONLY, cred: .root)
    try vfs.rmdir(vfs.root, FileName("gone"))
    XCTAssertEqual(try vfs.getattr(dir).nlink, 0)
    XCTAssertThrowsError(try vfs.lookup(vfs.root, FileName("gone"))) {
      XCTAssertEqual($0 as? Errno, .ENOENT)
    }
    _ = fh
    vfs.unmountAll()
    try assertClean(image)
    vfs = try mount(image)
    let after = vfs.statfs(vfs.root)
    XCTAssertEqual(after.filesFree, before.filesFree)
    XCTAssertEqual(after.blocksFree, before.blocksFree)
    vfs.unmountAll()
    try assertClean(image)
  }

  /// A tree removed and made again reuses the freed inodes and blocks (the
  /// free counts come back exactly), lookups of removed names fail, and
  /// e2fsck finds nothing after each round.
  func testRmdirThenMkdirReusesBlocksAndStaysClean() throws {
    let image = try makeImage(blockSize: 1024)
    let names = (0..<40).map { "directory-with-a-long-name-\($0)" }
    let vfs = try mount(image)
    let parent = try vfs.mkdir(vfs.root, FileName("p"), mode: 0o755, cred: .root)
    let empty = vfs.statfs(vfs.root)
    for round in 0..<3 {
      for name in names {
        let child = try vfs.mkdir(parent, FileName(name), mode: 0o755, cred: .root)
        _ = try vfs.mkdir(child, FileName("inner"), mode: 0o700, cred: .root)
      }
      XCTAssertEqual(try vfs.getattr(parent).nlink, UInt32(2 + names.count), "round \(round)")
      // Removed in an order unlike the one they were made in, so records
      // join the ones before them and some blocks' first records empty.
      for name in names.reversed() where name.hasSuffix("7") || name.hasSuffix("0") {
        let child = try vfs.lookup(parent, FileName(name))
        try vfs.rmdir(child, FileName("inner"))
        try vfs.rmdir(parent, FileName(name))
      }
      for name in names where !(name.hasSuffix("7") || name.hasSuffix("0")) {
        let child = try vfs.lookup(parent, FileName(name))
        try vfs.rmdir(child, FileName("inner"))
        try vfs.rmdir(parent, FileName(name))
      }
      for name in names {
        XCTAssertThrowsError(try vfs.lookup(parent, FileName(name))) {
          XCTAssertEqual($0 as? Errno, .ENOENT)
        }
      }
      let now = vfs.statfs(vfs.root)
      XCTAssertEqual(now.filesFree, empty.filesFree, "round \(round)")
      // The parent keeps the blocks its records grew into; nothing else stays.
      XCTAssertGreaterThanOrEqual(now.blocksFree + 4, empty.blocksFree, "round \(round)")
    }
    let afterRounds = vfs.statfs(vfs.root)
    XCTAssertEqual(try vfs.getattr(parent).nlink, 2)
    vfs.unmountAll()
    try assertClean(image)

    // Once more after a remount: the blocks the parent grew into are used
    // again, not new ones.
    let again = try mount(image)
    let p = try again.lookup(again.root, FileName("p"))
    for name in names { _ = try again.mkdir(p, FileName(name), mode: 0o755, cred: .root) }
    for name in names { try again.rmdir(p, FileName(name)) }
    XCTAssertEqual(again.statfs(again.root).blocksFree, afterRounds.blocksFree)
    again.unmountAll()
    try assertClean(image)
  }
}
