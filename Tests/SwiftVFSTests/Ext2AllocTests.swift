// ext2's run allocation (Ext2Alloc.swift: newBlocks, freeBlocks), its
// multi-block mapping (Ext2BlockMap.swift: getBlocks, lookupBlocks) and the
// directory hints (Ext2Directory.swift: i_dir_start_lookup and the add hint),
// on small `mke2fs -t ext2` images with 1 KiB blocks and 1,024-block groups,
// so that group boundaries are close. Every test ends with `e2fsck -fn`.

import Foundation
import SwiftVFS
import XCTest

@testable import SwiftVFSExt2

#if canImport(Glibc)
  import Glibc
#endif

final class Ext2AllocTests: XCTestCase {
  private var scratch: ScratchDirectory!

  override func setUpWithError() throws {
    scratch = try ScratchDirectory("swiftvfs-ext2alloc")
  }

  override func tearDownWithError() throws {
    try? scratch?.remove()
    scratch = nil
  }

  // MARK: - Helpers

  /// A 4 MiB image: 1 KiB blocks, 1,024 blocks per group (4 groups).
  private func makeImage(size: String = "4M") throws -> String {
    let image = scratch.path + "/a.img"
    let (status, output) = try runTool(
      "/usr/sbin/mke2fs", ["-q", "-F", "-t", "ext2", "-b", "1024", "-g", "1024", image, size])
    XCTAssertEqual(status, 0, output)
    return image
  }

  private func mount(_ image: String) throws -> (VFS, Ext2FileSystemInfo) {
    let vfs = VFS()
    try vfs.filesystems.register(Ext2FileSystem())
    try vfs.mount("ext2", at: "/", options: MountOptions(parsing: "source=\(image)"))
    let info = try XCTUnwrap(vfs.root.sb.privateData as? Ext2FileSystemInfo)
    return (vfs, info)
  }

  private func assertClean(_ image: String, file: StaticString = #filePath, line: UInt = #line)
    throws
  {
    let (status, output) = try runTool("/usr/sbin/e2fsck", ["-fn", image])
    XCTAssertEqual(status, 0, "e2fsck -fn:\n\(output)", file: file, line: line)
  }

  /// Whether block `block` is marked used in its group's bitmap.
  private func isUsed(_ info: Ext2FileSystemInfo, _ block: UInt32) throws -> Bool {
    let sb = info.superBlock
    let group = (block - sb.firstDataBlock) / sb.blocksPerGroup
    let bh = try info.disk.buffer(info.groups[Int(group)].blockBitmap)
    defer { bh.release() }
    return BufferHeadBits(bh).test(Int((block - sb.firstDataBlock) % sb.blocksPerGroup))
  }

  /// The free blocks as the descriptors count them, and as the superblock's
  /// live count has them: the two must agree.
  private func assertCountsAgree(
    _ info: Ext2FileSystemInfo, file: StaticString = #filePath, line: UInt = #line
  ) {
    let sum = info.groups.reduce(UInt32(0)) { $0 + UInt32($1.freeBlocksCount) }
    XCTAssertEqual(sum, info.allocLock.withLock { info.freeBlocks }, file: file, line: line)
  }

  /// Takes every block newBlocks will give (runs of up to `count`).
  private func takeAll(_ info: Ext2FileSystemInfo, count: Int, mayUseReserved: Bool = true)
    -> [UInt32]
  {
    var taken: [UInt32] = []
    while let (first, run) = try? info.newBlocks(
      goal: 0, count: count, mayUseReserved: mayUseReserved)
    {
      XCTAssertGreaterThanOrEqual(run, 1)
      taken += (0..<run).map { first + UInt32($0) }
    }
    return taken
  }

  // MARK: - Runs

  /// A run starts at a free goal, stops before a used block, and never
  /// crosses the end of its group; every block of it is marked used, and
  /// the counts go down by its length.
  func testRunStopsAtAUsedBlockAndAtTheGroupEnd() throws {
    let image = try makeImage()
    let (vfs, info) = try mount(image)
    let sb = info.superBlock
    let before = info.allocLock.withLock { info.freeBlocks }
    // Group 2 has no superblock backup: its end is free data blocks.
    let start = sb.groupFirstBlock(2) + 600
    XCTAssertFalse(try isUsed(info, start))
    let blocker = try info.newBlock(goal: start + 3)
    XCTAssertEqual(blocker, start + 3)
    let (first, run) = try info.newBlocks(goal: start, count: 10)
    XCTAssertEqual(first, start)
    XCTAssertEqual(run, 3, "the run ends before the used block")
    for block in first..<first + UInt32(run) { XCTAssertTrue(try isUsed(info, block)) }

    let last = sb.groupLastBlock(2)
    let (tailFirst, tailRun) = try info.newBlocks(goal: last - 4, count: 50)
    XCTAssertEqual(tailFirst, last - 4)
    XCTAssertEqual(tailRun, 5, "the run ends with its group")
    XCTAssertFalse(try isUsed(info, sb.groupFirstBlock(3) + 600))
    let taken = [blocker] + (0..<3).map { first + $0 } + (0..<5).map { tailFirst + $0 }
    XCTAssertEqual(info.allocLock.withLock { info.freeBlocks }, before - UInt32(taken.count))
    assertCountsAgree(info)

    info.freeBlocks(taken + [blocker])  // a block given twice is freed once
    XCTAssertEqual(info.allocLock.withLock { info.freeBlocks }, before)
    for block in taken { XCTAssertFalse(try isUsed(info, block)) }
    assertCountsAgree(info)
    vfs.unmountAll()
    try assertClean(image)
  }

  /// A full group is passed over: a goal in it gets blocks from the next
  /// group, and freeing gives the group its count back.
  func testFullGroupAllocatesFromTheNext() throws {
    let image = try makeImage()
    let (vfs, info) = try mount(image)
    let sb = info.superBlock
    var taken: [UInt32] = []
    while info.groups[2].freeBlocksCount > 0 {
      let (first, run) = try info.newBlocks(goal: sb.groupFirstBlock(2), count: 4096)
      XCTAssertLessThanOrEqual(first + UInt32(run) - 1, sb.groupLastBlock(2))
      taken += (0..<run).map { first + UInt32($0) }
    }
    let (next, run) = try info.newBlocks(goal: sb.groupFirstBlock(2) + 10, count: 8)
    XCTAssertGreaterThanOrEqual(next, sb.groupFirstBlock(3))
    XCTAssertEqual(run, 8)
    taken += (0..<run).map { next + UInt32($0) }
    assertCountsAgree(info)
    info.freeBlocks(taken)
    assertCountsAgree(info)
    vfs.unmountAll()
    try assertClean(image)
  }

  /// The disk running out in the middle of a run: the run is cut where the
  /// blocks end, the next call is ENOSPC, the counts are zero and agree
  /// with the bitmaps (e2fsck, after everything is freed again).
  func testENOSPCInTheMiddleOfARunLeavesCountsConsistent() throws {
    let image = try makeImage()
    let (vfs, info) = try mount(image)
    let free = Int(info.allocLock.withLock { info.freeBlocks })
    let reserved = Int(info.superBlock.reservedBlocksCount)
    XCTAssertGreaterThan(reserved, 0)
    // A user stops at the reserve ...
    let user = takeAll(info, count: 700, mayUseReserved: false)
    XCTAssertEqual(user.count, free - reserved)
    XCTAssertEqual(Int(info.allocLock.withLock { info.freeBlocks }), reserved)
    // ... root takes the rest, in runs longer than what is left.
    let root = takeAll(info, count: 700)
    XCTAssertEqual(root.count, reserved)
    XCTAssertEqual(Set(user + root).count, free, "no block given twice")
    XCTAssertThrowsError(try info.newBlocks(goal: 0, count: 1)) {
      XCTAssertEqual($0 as? Errno, .ENOSPC)
    }
    XCTAssertEqual(vfs.statfs(vfs.root).blocksFree, 0)
    assertCountsAgree(info)
    info.freeBlocks(user + root)
    XCTAssertEqual(Int(info.allocLock.withLock { info.freeBlocks }), free)
    assertCountsAgree(info)
    vfs.unmountAll()
    try assertClean(image)
  }

  /// One write that spans groups: its runs cross each group boundary
  /// through the block map (direct, indirect and double indirect blocks),
  /// read back the same after a remount; e2fsck is clean.
  func testWriteAcrossGroupBoundariesReadsBack() throws {
    let image = try makeImage()
    let (vfs, _) = try mount(image)
    let bytes = (0..<(2_500 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 7 ^ $0 >> 10) }
    let (inode, fh, file) = try vfs.create(
      vfs.root, "big", mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
    // A partial first block, then one large write, then a partial tail.
    var offset = 0
    for end in [100, bytes.count - 333, bytes.count] {
      let n = try bytes[offset..<end].withUnsafeBytes {
        try vfs.write(file, from: $0, at: Int64(offset))
      }
      XCTAssertEqual(n, end - offset)
      offset = end
    }
    vfs.release(fh)
    XCTAssertEqual(try readBytes(vfs, inode, at: 0, count: bytes.count), bytes)
    vfs.unmountAll()
    try assertClean(image)
    let (again, _) = try mount(image)
    let reread = try again.lookup(again.root, "big")
    XCTAssertEqual(try readBytes(again, reread, at: 0, count: bytes.count), bytes)
    again.unmountAll()
  }

  /// A write into a file with holes takes runs only where the holes are:
  /// the mapped blocks in between keep their place and contents.
  func testWriteOverHolesKeepsMappedBlocks() throws {
    let image = try makeImage()
    let (vfs, info) = try mount(image)
    let (inode, fh, file) = try vfs.create(
      vfs.root, "holes", mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
    defer { vfs.release(fh) }
    let one = [UInt8](repeating: 1, count: 1024)
    for block in [3, 20, 300] {
      _ = try one.withUnsafeBytes { try vfs.write(file, from: $0, at: Int64(block * 1024)) }
    }
    let core = try info.core(of: inode)
    var before: [UInt64?] = []
    try info.lookupBlocks(core.snapshot, 0, count: 400, into: &before)
    XCTAssertEqual(before.compactMap { $0 }.count, 3)
    let two = [UInt8](repeating: 2, count: 400 * 1024)
    _ = try two.withUnsafeBytes { try vfs.write(file, from: $0, at: 0) }
    var after: [UInt64?] = []
    try info.lookupBlocks(core.snapshot, 0, count: 400, into: &after)
    XCTAssertEqual(after.compactMap { $0 }.count, 400)
    for block in [3, 20, 300] { XCTAssertEqual(after[block], before[block]) }
    XCTAssertEqual(Set(after.compactMap { $0 }).count, 400, "no block mapped twice")
    XCTAssertEqual(try readBytes(vfs, inode, at: 0, count: two.count), two)
    vfs.release(fh)
    vfs.unmountAll()
    try assertClean(image)
  }

  // MARK: - Directory hints

  /// Creates an empty file `name` in `dir`.
  private func touch(_ vfs: VFS, _ dir: Inode, _ name: FileName) throws {
    let (_, fh, _) = try vfs.create(dir, name, mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
    vfs.release(fh)
  }

  /// The offset of `name` in a listing of `dir`, or nil.
  private func offset(of name: String, in dir: Inode, _ vfs: VFS) throws -> Int64? {
    let (fh, file) = try vfs.open(dir, flags: O_RDONLY, cred: .root)
    defer { vfs.release(fh) }
    var found: Int64?
    var previous: Int64 = 0
    var cookie: Int64 = 0
    var more = true
    while more && found == nil {
      more = false
      try vfs.readdir(file, from: cookie) { entry in
        if entry.name.description == name { found = previous }
        previous = entry.offset
        cookie = entry.offset
        more = true
        return found == nil
      }
    }
    return found
  }

  /// A new name still goes in the first block with room, as ext2_add_link()
  /// places it, whatever the add and lookup hints remember: after a name is
  /// deleted in the first block, the next name that fits lands there, and
  /// lookups from any starting block find every name.
  func testNewNamesGoWhereALinearSearchPutsThem() throws {
    let image = try makeImage()
    let (vfs, _) = try mount(image)
    let dir = try vfs.mkdir(vfs.root, "d", mode: 0o755, cred: .root)
    let long = String(repeating: "x", count: 40)
    for i in 0..<200 {
      try touch(vfs, dir, FileName("\(long)\(i)"))
    }
    let blockSize: Int64 = 1024
    let lastOffset = try XCTUnwrap(try offset(of: "\(long)199", in: dir, vfs))
    XCTAssertGreaterThan(lastOffset, 4 * blockSize, "several blocks")
    // A lookup far down moves the start hint; names before it are found.
    _ = try vfs.lookup(dir, FileName("\(long)199"))
    vfs.dcache.shrink(to: 0)
    _ = try vfs.lookup(dir, FileName("\(long)3"))
    // Each block ends in 36 bytes of slack: a 41-byte name (a 52-byte
    // record) fits only where a record was freed. Without a hole it goes in
    // a new block at the end.
    let fits = String(repeating: "z", count: 41)
    try touch(vfs, dir, FileName(fits))
    XCTAssertGreaterThan(try XCTUnwrap(try offset(of: fits, in: dir, vfs)), lastOffset)
    // A hole in block 0: the next such name goes there, not at the end.
    try vfs.unlink(dir, FileName("\(long)2"))
    let first = String(repeating: "v", count: 41)
    try touch(vfs, dir, FileName(first))
    XCTAssertLessThan(try XCTUnwrap(try offset(of: first, in: dir, vfs)), blockSize)
    // A hole in a middle block, then a name too long for any hole (it goes
    // at the end), then one that fits the hole: it goes in the middle block.
    let middle = try XCTUnwrap(try offset(of: "\(long)100", in: dir, vfs))
    try vfs.unlink(dir, FileName("\(long)100"))
    try touch(vfs, dir, FileName(String(repeating: "y", count: 200)))
    let second = String(repeating: "w", count: 41)
    try touch(vfs, dir, FileName(second))
    let placed = try XCTUnwrap(try offset(of: second, in: dir, vfs))
    XCTAssertEqual(placed / blockSize, middle / blockSize)
    vfs.dcache.shrink(to: 0)
    for i in [0, 1, 3, 99, 101, 199] {
      XCTAssertNoThrow(try vfs.lookup(dir, FileName("\(long)\(i)")))
    }
    XCTAssertThrowsError(try vfs.lookup(dir, FileName("\(long)2")))
    vfs.unmountAll()
    try assertClean(image)
  }

  // MARK: - i_generation

  /// A batch holds 256 bytes from the system's random source: not all the
  /// same number (the chance that 64 random draws agree is 2^-2016).
  func testRandomBatchIsFullAndRandom() {
    let batch = Ext2FileSystemInfo.randomBatch(count: Ext2FileSystemInfo.generationBatchSize)
    XCTAssertEqual(batch.count, 64)
    XCTAssertGreaterThan(Set(batch).count, 1)
  }

  /// Each new inode takes the next number of the batch as its i_generation,
  /// and the disk has it after the unmount; once the batch is spent, a new
  /// one is drawn.
  func testNewInodesTakeTheBatchAsGeneration() throws {
    let image = try makeImage()
    let (vfs, info) = try mount(image)
    info.allocLock.withLock {
      info.generationBatch = [0xE220_A839, 0x6E78_9E6A]
      info.generationNext = 0
    }
    _ = try vfs.mkdir(vfs.root, "a", mode: 0o755, cred: .root)
    try touch(vfs, vfs.root, "b")
    try touch(vfs, vfs.root, "c")
    XCTAssertEqual(info.allocLock.withLock { info.generationBatch.count }, 64, "a new batch")
    XCTAssertEqual(info.allocLock.withLock { info.generationNext }, 1)
    vfs.unmountAll()
    try assertClean(image)
    for (name, expected) in [("a", 0xE220_A839), ("b", 0x6E78_9E6A)] {
      let (status, output) = try runTool("/usr/sbin/debugfs", ["-R", "stat /\(name)", image])
      XCTAssertEqual(status, 0, output)
      XCTAssertTrue(output.contains("Generation: \(expected) "), "\(name):\n\(output)")
    }
  }
}
