// The block map of an ext2 inode, like ext2_block_to_path() and
// ext2_get_branch() in fs/ext2/inode.c: i_block[0..11] point at data,
// i_block[12] at a block of pointers, i_block[13] at a block of blocks of
// pointers, i_block[14] one level deeper. A 0 pointer is a hole (it reads as
// zeros). A pointer outside the data blocks is a damaged image: EUCLEAN. The
// walk is at most four reads deep, so no pointer cycle can loop it.

import SwiftVFSCore

/// Where a file's logical block lives (the path of ext2_block_to_path()).
struct Ext2BlockMap {
  /// The indirect blocks read last, one per level, so a sequential read does
  /// not read each of them again for every data block.
  private var cached: [(block: UInt32, data: [UInt8])?] = [nil, nil, nil]
  let info: Ext2FileSystemInfo

  init(_ info: Ext2FileSystemInfo) { self.info = info }

  /// ext2_block_to_path(): the indices to follow from i_block, or nil past
  /// what triple indirection reaches ("block > big": EIO in the kernel).
  static func path(_ logical: UInt64, blockSize: Int) -> [Int]? {
    let bits = UInt64((blockSize / 4).trailingZeroBitCount)
    let perBlock = UInt64(1) << bits
    let mask = perBlock - 1
    var i = logical
    if i < UInt64(Ext2Inode.directBlocks) { return [Int(i)] }
    i -= UInt64(Ext2Inode.directBlocks)
    if i < perBlock { return [12, Int(i)] }
    i -= perBlock
    if i < perBlock << bits { return [13, Int(i >> bits), Int(i & mask)] }
    i -= perBlock << bits
    if i >> (bits * 2) < perBlock {
      return [14, Int(i >> (bits * 2)), Int((i >> bits) & mask), Int(i & mask)]
    }
    return nil
  }

  /// The physical block of logical block `logical` of `inode`, nil for a hole.
  mutating func lookup(_ inode: Ext2Inode, _ logical: UInt64) throws(Errno) -> UInt32? {
    guard let path = Ext2BlockMap.path(logical, blockSize: info.superBlock.blockSize) else {
      throw .EIO
    }
    guard path[0] < inode.block.count else { throw EFSCORRUPTED }
    var pointer = inode.block[path[0]]
    for (level, index) in path.dropFirst().enumerated() {
      if pointer == 0 { return nil }
      try check(pointer)
      let data: [UInt8]
      if let hit = cached[level], hit.block == pointer {
        data = hit.data
      } else {
        data = try info.disk.readBlock(pointer)
        cached[level] = (pointer, data)
      }
      pointer = Ext2Bytes(data).u32(index * 4)
    }
    if pointer == 0 { return nil }
    try check(pointer)
    return pointer
  }

  /// Like ext2_data_block_valid(): a pointer must name a block past the
  /// superblock and inside the file system, else the image is damaged.
  private func check(_ pointer: UInt32) throws(Errno) {
    let sbd = info.superBlock
    guard pointer > sbd.superBlockBlock, pointer < sbd.blocksCount else { throw EFSCORRUPTED }
  }
}

extension Ext2FileSystemInfo {
  /// The most blocks one bio of `readData` reads.
  static let maxRunBlocks = 256

  /// Reads `count` bytes of `inode`'s data at `offset` into `buffer`,
  /// stopping at i_size; holes read as zeros. Blocks that lie one after
  /// another on the disk are read in one bio (as mpage_readahead() builds
  /// one bio per contiguous run). Returns the bytes read.
  func readData(
    _ inode: Ext2Inode, at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer
  ) throws(Errno) -> Int {
    guard offset < inode.size, buffer.count > 0 else { return 0 }
    let total = Int(min(UInt64(buffer.count), inode.size - offset))
    let blockSize = superBlock.blockSize
    var map = Ext2BlockMap(self)
    var done = 0
    while done < total {
      let position = offset + UInt64(done)
      let logical = position / UInt64(blockSize)
      let within = Int(position % UInt64(blockSize))
      var end = done + min(total - done, blockSize - within)
      guard let physical = try map.lookup(inode, logical) else {
        UnsafeMutableRawBufferPointer(rebasing: buffer[done..<end])
          .initializeMemory(as: UInt8.self, repeating: 0)
        done = end
        continue
      }
      var run = 1
      while end < total, run < Ext2FileSystemInfo.maxRunBlocks,
        try map.lookup(inode, logical + UInt64(run)) == physical &+ UInt32(run)
      {
        run += 1
        end = min(total, end + blockSize)
      }
      let data = try disk.readBlocks(physical, count: run)
      data.withUnsafeBytes { source in
        UnsafeMutableRawBufferPointer(rebasing: buffer[done..<end]).copyMemory(
          from: UnsafeRawBufferPointer(rebasing: source[within..<within + (end - done)])
        )
      }
      done = end
    }
    return done
  }

  /// All of `inode`'s data up to i_size (for directories, symlinks), with
  /// at most `limit` bytes: a size past it is a damaged image.
  func readAll(_ inode: Ext2Inode, limit: UInt64) throws(Errno) -> [UInt8] {
    guard inode.size <= limit else { throw EFSCORRUPTED }
    var bytes = [UInt8](repeating: 0, count: Int(inode.size))
    let n = try ext2Typed {
      try bytes.withUnsafeMutableBytes { raw in try readData(inode, at: 0, into: raw) }
    }
    guard n == bytes.count else { throw .EIO }
    return bytes
  }
}
