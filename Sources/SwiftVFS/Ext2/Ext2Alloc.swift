// Block and inode allocation, like fs/ext2/balloc.c and ialloc.c: one bit
// per block (per inode) in each group's bitmap, the free counts in the group
// descriptors and the superblock kept in step. Blocks are sought from a goal
// (the block after the inode's last one, or the start of its group) onwards,
// group after group; a file's inode goes in its parent's group (or the next
// with room, find_group_other()), a directory's in a group with more free
// inodes than average and the most free blocks (find_group_dir()).
//
// Locking: `allocLock` around every bitmap and descriptor change; the
// bitmaps' bytes change under their buffer's own lock inside it.

import SwiftVFSBlock
import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

extension Ext2FileSystemInfo {
  /// Whether `cred` may take the blocks reserved for the superuser: root
  /// (CAP_SYS_RESOURCE), s_def_resuid, or a member of s_def_resgid.
  func mayUseReserved(_ cred: Cred) -> Bool {
    cred.isRoot || cred.uid == UInt32(superBlock.defaultReservedUID)
      || (superBlock.defaultReservedGID != 0 && cred.gid == UInt32(superBlock.defaultReservedGID))
  }

  /// The blocks group `group` has (the last group may be shorter).
  func blocksInGroup(_ group: UInt32) -> Int {
    Int(superBlock.groupLastBlock(group) &- superBlock.groupFirstBlock(group) &+ 1)
  }

  /// The buffer of descriptor block `index` (block `block`), kept pinned
  /// from its first use to the unmount, as ext2_fill_super() keeps
  /// s_group_desc[]: every allocation changes one, so it is never looked up
  /// in the cache again (allocLock held).
  private func descriptorBuffer(_ index: Int, _ block: UInt32) throws(Errno) -> BufferHead {
    if index < descriptorBuffers.count, let bh = descriptorBuffers[index] { return bh }
    let bh = try disk.buffer(block)
    if index >= descriptorBuffers.count {
      descriptorBuffers += Array(repeating: nil, count: index + 1 - descriptorBuffers.count)
    }
    descriptorBuffers[index] = bh
    return bh
  }

  /// Writes descriptor `group` into its descriptor block (allocLock held).
  private func writeDescriptorLocked(_ group: UInt32) throws(Errno) {
    let perBlock = UInt32(superBlock.descriptorsPerBlock)
    let block = superBlock.descriptorBlock(group / perBlock)
    let offset = Int(group % perBlock) * Ext2GroupDescriptor.size
    let d = groupTable[Int(group)]
    let bh = try descriptorBuffer(Int(group / perBlock), block)
    // bg_free_blocks_count, bg_free_inodes_count, bg_used_dirs_count in
    // place: no temporary array per allocation.
    guard offset >= 0, offset + 18 <= bh.size else { throw .EINVAL }
    bh.modify { bytes in
      bytes.storeBytes(
        of: d.freeBlocksCount.littleEndian, toByteOffset: offset + 12, as: UInt16.self)
      bytes.storeBytes(
        of: d.freeInodesCount.littleEndian, toByteOffset: offset + 14, as: UInt16.self)
      bytes.storeBytes(of: d.usedDirsCount.littleEndian, toByteOffset: offset + 16, as: UInt16.self)
    }
  }

  /// Like ext2_new_blocks() for one block: a free block at or after `goal`
  /// (its group first, then the next groups), marked used. ENOSPC if none,
  /// or if only the superuser's reserve is left and `mayUseReserved` is
  /// false (ext2_has_free_blocks()).
  func newBlock(goal: UInt32, mayUseReserved: Bool = true) throws(Errno) -> UInt32 {
    try newBlocks(goal: goal, count: 1, mayUseReserved: mayUseReserved).first
  }

  /// Like ext2_new_blocks() with a count: the first free block at or after
  /// `goal` (its group first, then the next groups, as `newBlock`), and up
  /// to `count - 1` free blocks right after it in the same group, all
  /// marked used with one bitmap and one descriptor update
  /// (bitmap_search_next_usable_block() + ext2_try_to_allocate()). Returns
  /// the first block and how many follow it (at least 1). The run never
  /// dips into the superuser's reserve when `mayUseReserved` is false, so
  /// a run ends where one-at-a-time allocation would have hit ENOSPC.
  /// ENOSPC if not one block can be had.
  func newBlocks(goal: UInt32, count: Int, mayUseReserved: Bool = true) throws(Errno)
    -> (first: UInt32, count: Int)
  {
    try allocLock.withLock { () throws(Errno) -> (first: UInt32, count: Int) in
      let sbd = superBlock
      let groups = UInt32(groupTable.count)
      guard freeBlocks > 0, groups > 0 else { throw .ENOSPC }
      var available = Int(freeBlocks)
      if !mayUseReserved {
        guard UInt64(freeBlocks) >= UInt64(sbd.reservedBlocksCount) + 1 else { throw .ENOSPC }
        available = Int(UInt64(freeBlocks) - UInt64(sbd.reservedBlocksCount))
      }
      var goalGroup: UInt32 = 0
      var goalBit = 0
      if goal >= sbd.firstDataBlock, goal < sbd.blocksCount {
        goalGroup = (goal - sbd.firstDataBlock) / sbd.blocksPerGroup
        goalBit = Int((goal - sbd.firstDataBlock) % sbd.blocksPerGroup)
      }
      for step in 0...groups {
        let group = (goalGroup + step) % groups
        let groupFree = Int(groupTable[Int(group)].freeBlocksCount)
        guard groupFree > 0 else { continue }
        let bitsInGroup = blocksInGroup(group)
        let bh = BufferHeadBits(try disk.buffer(groupTable[Int(group)].blockBitmap))
        guard validBlockBitmap(bh, group: group) else { continue }  // "Invalid block bitmap"
        let start = step == 0 ? min(goalBit, bitsInGroup) : 0
        guard
          let bit = bh.firstClear(from: start, count: bitsInGroup)
            ?? bh.firstClear(from: 0, count: bitsInGroup)
        else { continue }
        // The counts bound the run too: a descriptor that claims fewer free
        // blocks than its bitmap shows never goes below zero.
        let limit = max(1, min(count, available, groupFree))
        let run = bh.setClearRun(from: bit, limit: limit, count: bitsInGroup)
        groupTable[Int(group)].freeBlocksCount &-= UInt16(truncatingIfNeeded: run)
        freeBlocks &-= UInt32(run)
        try writeDescriptorLocked(group)
        return (sbd.groupFirstBlock(group) &+ UInt32(bit), run)
      }
      throw .ENOSPC
    }
  }

  /// Like ext2_valid_block_bitmap(): the group's own bitmaps and inode
  /// table must be marked in use, else the bitmap is damaged and the group
  /// is not allocated from (allocLock held).
  private func validBlockBitmap(_ bits: BufferHeadBits, group: UInt32) -> Bool {
    if validatedGroups.contains(group) { return true }
    let d = groupTable[Int(group)]
    let first = superBlock.groupFirstBlock(group)
    let table = UInt64(d.inodeTable)
    let end = table + UInt64(superBlock.inodeTableBlocksPerGroup)
    for block in [UInt64(d.blockBitmap), UInt64(d.inodeBitmap)] + Array(table..<end) {
      guard block >= UInt64(first), bits.test(Int(block - UInt64(first))) else { return false }
    }
    validatedGroups.insert(group)  // those bits are never cleared here
    return true
  }

  /// Like ext2_free_blocks(): clears the blocks' bits and counts them free;
  /// their buffers are forgotten (bforget()), so a stale copy never reaches
  /// the disk. A block outside the data area is skipped ("freeing blocks
  /// not in datazone"), and so is one whose bit is already clear ("bit
  /// already cleared"). The blocks are taken group by group, in order, so
  /// each group's bitmap is found once and its descriptor written once
  /// however many of its blocks go (as ext2_free_blocks() takes a run).
  func freeBlocks(_ blocks: [UInt32]) {
    guard !blocks.isEmpty else { return }
    for block in blocks { disk.buffers.forget(block: UInt64(block)) }
    let sbd = superBlock
    let sorted = blocks.filter {
      $0 >= sbd.firstDataBlock && $0 < sbd.blocksCount && $0 > sbd.superBlockBlock
    }.sorted()
    allocLock.withLock {
      var i = 0
      while i < sorted.count {
        let group = (sorted[i] - sbd.firstDataBlock) / sbd.blocksPerGroup
        var end = i + 1
        while end < sorted.count, (sorted[end] - sbd.firstDataBlock) / sbd.blocksPerGroup == group {
          end += 1
        }
        defer { i = end }
        guard Int(group) < groupTable.count,
          let bh = try? disk.buffer(groupTable[Int(group)].blockBitmap)
        else { continue }
        let bits = BufferHeadBits(bh)
        let cleared = bits.clearBits(
          sorted[i..<end].map { Int(($0 - sbd.firstDataBlock) % sbd.blocksPerGroup) })
        bh.release()
        guard cleared > 0 else { continue }
        groupTable[Int(group)].freeBlocksCount &+= UInt16(truncatingIfNeeded: cleared)
        freeBlocks &+= UInt32(cleared)
        try? writeDescriptorLocked(group)
      }
    }
  }

  /// Like ext2_new_inode()'s choice and bitmap work: a free inode number,
  /// marked used, for a directory (find_group_dir()) or anything else in
  /// `parentIno`'s group (find_group_other()). ENOSPC if none is free.
  func newInodeNumber(parentIno: UInt32, isDirectory: Bool) throws(Errno) -> UInt32 {
    try allocLock.withLock { () throws(Errno) -> UInt32 in
      let sbd = superBlock
      let groups = UInt32(groupTable.count)
      guard freeInodes > 0, groups > 0 else { throw .ENOSPC }
      let parentGroup = (parentIno - 1) / sbd.inodesPerGroup % groups
      var best: UInt32?
      if isDirectory {
        let average = freeInodes / groups
        for g in 0..<groups {
          let d = groupTable[Int(g)]
          guard UInt32(d.freeInodesCount) >= max(average, 1) else { continue }
          if let b = best, groupTable[Int(b)].freeBlocksCount >= d.freeBlocksCount { continue }
          best = g
        }
      }
      // The directory's chosen group first, then every group from the
      // parent's on (no array of the order per call: this runs per create).
      for step in 0...groups {
        let group: UInt32
        if step == 0 {
          guard let best else { continue }
          group = best
        } else {
          group = (parentGroup + step - 1) % groups
        }
        guard groupTable[Int(group)].freeInodesCount > 0 else { continue }
        let bh = BufferHeadBits(try disk.buffer(groupTable[Int(group)].inodeBitmap))
        let first = group == 0 ? Int(sbd.firstIno) - 1 : 0
        guard let bit = bh.firstClear(from: first, count: Int(sbd.inodesPerGroup)) else {
          continue
        }
        bh.set(bit)
        groupTable[Int(group)].freeInodesCount &-= 1
        if isDirectory { groupTable[Int(group)].usedDirsCount &+= 1 }
        freeInodes &-= 1
        try writeDescriptorLocked(group)
        return group * sbd.inodesPerGroup + UInt32(bit) + 1
      }
      throw .ENOSPC
    }
  }

  /// A new inode's i_generation, like ext2_new_inode()'s get_random_u32():
  /// from the kernel's random source, a batch at a time, as get_random_u32()
  /// hands out a per-CPU batch. Swift's `UInt32.random` makes a getrandom(2)
  /// system call per draw, one more trip into the kernel on every create
  /// and mkdir; this makes one per `generationBatchSize` new inodes.
  func newGeneration() -> UInt32 {
    allocLock.withLock {
      if generationNext >= generationBatch.count {
        generationBatch = Ext2FileSystemInfo.randomBatch(
          count: Ext2FileSystemInfo.generationBatchSize)
        generationNext = 0
      }
      defer { generationNext += 1 }
      return generationBatch[generationNext]
    }
  }

  /// New generations drawn at once: 256 bytes, the most one getentropy(3)
  /// (one getrandom(2)) gives.
  static let generationBatchSize = 64

  /// `count` random numbers from getentropy(3) (Swift's Glibc module does
  /// not import getrandom(2) itself), or from Swift's generator if it fails.
  static func randomBatch(count: Int) -> [UInt32] {
    var batch = [UInt32](repeating: 0, count: count)
    let filled = batch.withUnsafeMutableBytes { raw -> Bool in
      guard let base = raw.baseAddress, raw.count <= 256 else { return false }
      return getentropy(base, raw.count) == 0
    }
    if !filled {
      for i in batch.indices { batch[i] = UInt32.random(in: .min ... .max) }
    }
    return batch
  }

  /// Like ext2_free_inode(): clears the inode's bit and counts it free.
  func freeInodeNumber(_ ino: UInt32, isDirectory: Bool) {
    allocLock.withLock {
      let sbd = superBlock
      guard ino >= sbd.firstIno, ino <= sbd.inodesCount else { return }
      let group = (ino - 1) / sbd.inodesPerGroup
      let bit = Int((ino - 1) % sbd.inodesPerGroup)
      guard Int(group) < groupTable.count,
        let bh = try? disk.buffer(groupTable[Int(group)].inodeBitmap)
      else { return }
      let bits = BufferHeadBits(bh)
      guard bits.test(bit) else { return }
      bits.clear(bit)
      groupTable[Int(group)].freeInodesCount &+= 1
      if isDirectory, groupTable[Int(group)].usedDirsCount > 0 {
        groupTable[Int(group)].usedDirsCount -= 1
      }
      freeInodes &+= 1
      try? writeDescriptorLocked(group)
    }
  }
}

/// Bit operations on a bitmap block (ext2_set_bit, ext2_test_bit,
/// ext2_find_next_zero_bit: little-endian bit order).
struct BufferHeadBits {
  let bh: BufferHead

  init(_ bh: BufferHead) { self.bh = bh }

  func test(_ bit: Int) -> Bool {
    bh.withUnsafeBytes { bytes in
      bit / 8 < bytes.count && bytes[bit / 8] & (1 << UInt8(bit % 8)) != 0
    }
  }

  func set(_ bit: Int) {
    bh.modify { bytes in
      if bit / 8 < bytes.count { bytes[bit / 8] |= 1 << UInt8(bit % 8) }
    }
  }

  func clear(_ bit: Int) {
    bh.modify { bytes in
      if bit / 8 < bytes.count { bytes[bit / 8] &= ~(1 << UInt8(bit % 8)) }
    }
  }

  /// The first clear bit in `from..<count` (count capped at the block's
  /// bits), 64 bits at a time over full words (find_next_zero_bit_le()).
  func firstClear(from: Int, count: Int) -> Int? {
    bh.withUnsafeBytes { bytes -> Int? in
      let limit = min(count, bytes.count * 8)
      var bit = max(0, from)
      while bit < limit {
        if bit % 64 == 0, bit + 64 <= limit,
          bytes.loadUnaligned(fromByteOffset: bit / 8, as: UInt64.self) == UInt64.max
        {
          bit += 64
          continue
        }
        if bit % 8 == 0, bytes[bit / 8] == 0xFF {
          bit += 8
          continue
        }
        if bytes[bit / 8] & (1 << UInt8(bit % 8)) == 0 { return bit }
        bit += 1
      }
      return nil
    }
  }

  /// Sets clear bit `from` and the clear bits right after it, at most
  /// `limit` in all and none at or past `count`; returns how many were set
  /// (at least 1 when `from` is clear and inside).
  func setClearRun(from: Int, limit: Int, count: Int) -> Int {
    bh.modify { bytes -> Int in
      let end = min(count, bytes.count * 8)
      var bit = max(0, from)
      var run = 0
      while run < limit, bit < end, bytes[bit / 8] & (1 << UInt8(bit % 8)) == 0 {
        bytes[bit / 8] |= 1 << UInt8(bit % 8)
        bit += 1
        run += 1
      }
      return run
    }
  }

  /// Clears each set bit of `bits` (in one modify); returns how many were
  /// set before.
  func clearBits(_ bits: [Int]) -> Int {
    bh.modify { bytes -> Int in
      var cleared = 0
      for bit in bits where bit >= 0 && bit / 8 < bytes.count {
        let mask: UInt8 = 1 << UInt8(bit % 8)
        if bytes[bit / 8] & mask != 0 {
          bytes[bit / 8] &= ~mask
          cleared += 1
        }
      }
      return cleared
    }
  }
}
