// The block map of an ext2 inode, like ext2_block_to_path(),
// ext2_get_branch(), ext2_get_blocks() and __ext2_truncate_blocks() in
// fs/ext2/inode.c: i_block[0..11] point at data, i_block[12] at a block of
// pointers, i_block[13] at a block of blocks of pointers, i_block[14] one
// level deeper. A 0 pointer is a hole (it reads as zeros). A pointer outside
// the data blocks is a damaged image: EUCLEAN. A walk is at most four reads
// deep, so no pointer cycle can loop it. Indirect blocks are metadata: they
// live in the buffer cache.

import SwiftVFSBlock
import SwiftVFSCore

/// Where a file's logical blocks live (the path of ext2_block_to_path()).
enum Ext2BlockMap {
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
}

extension Ext2FileSystemInfo {
  /// Like ext2_data_block_valid(): a pointer must name a block past the
  /// superblock and inside the file system, else the image is damaged.
  func checkPointer(_ pointer: UInt32) throws(Errno) {
    guard pointer > superBlock.superBlockBlock, pointer < superBlock.blocksCount else {
      throw EFSCORRUPTED
    }
  }

  /// Pointer `index` of indirect block `block`.
  func pointer(in block: UInt32, at index: Int) throws(Errno) -> UInt32 {
    try checkPointer(block)
    let bh = try disk.buffer(block)
    defer { bh.release() }
    return bh.withUnsafeBytes { bytes in
      index * 4 + 4 <= bytes.count
        ? bytes.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self).littleEndian : 0
    }
  }

  /// The physical block of logical block `logical` of `inode`, nil for a hole.
  func lookupBlock(_ inode: Ext2Inode, _ logical: UInt64) throws(Errno) -> UInt32? {
    guard let path = Ext2BlockMap.path(logical, blockSize: superBlock.blockSize) else {
      throw .EIO
    }
    guard path[0] < inode.block.count else { throw EFSCORRUPTED }
    var pointer = inode.block[path[0]]
    for index in path.dropFirst() {
      if pointer == 0 { return nil }
      pointer = try self.pointer(in: pointer, at: index)
    }
    if pointer == 0 { return nil }
    try checkPointer(pointer)
    return pointer
  }

  /// Like ext2_get_blocks() for lookups of a range: appends to `blocks`
  /// the physical blocks of logical blocks `logical..<logical + count`
  /// (nil for a hole), walking the tree once per indirect block of
  /// pointers rather than once per block (the Indirect chain that
  /// ext2_get_branch() builds, reused for its siblings). Errors as
  /// `lookupBlock`.
  func lookupBlocks(
    _ inode: Ext2Inode, _ logical: UInt64, count: Int, into blocks: inout [UInt64?]
  ) throws(Errno) {
    let perBlock = superBlock.blockSize / 4
    var next = logical
    let end = logical + UInt64(max(0, count))
    while next < end {
      guard let path = Ext2BlockMap.path(next, blockSize: superBlock.blockSize) else {
        throw .EIO
      }
      guard path[0] < inode.block.count else { throw EFSCORRUPTED }
      let left = Int(min(end - next, UInt64(Int.max)))
      if path.count == 1 {
        // Direct blocks: straight from i_block.
        let n = min(left, Ext2Inode.directBlocks - path[0])
        for i in 0..<n {
          let pointer = inode.block[path[0] + i]
          if pointer == 0 {
            blocks.append(nil)
          } else {
            try checkPointer(pointer)
            blocks.append(UInt64(pointer))
          }
        }
        next += UInt64(n)
        continue
      }
      // The leaf: the indirect block that holds this block's pointer.
      let n = min(left, perBlock - path[path.count - 1])
      var pointer = inode.block[path[0]]
      for index in path.dropFirst().dropLast() where pointer != 0 {
        pointer = try self.pointer(in: pointer, at: index)
      }
      if pointer == 0 {
        blocks.append(contentsOf: repeatElement(nil, count: n))
        next += UInt64(n)
        continue
      }
      try checkPointer(pointer)
      let bh = try disk.buffer(pointer)
      let first = path[path.count - 1]
      let leaf = bh.withUnsafeBytes { bytes -> [UInt32] in
        (first..<first + n).map { i in
          i * 4 + 4 <= bytes.count
            ? bytes.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self).littleEndian : 0
        }
      }
      bh.release()
      for value in leaf {
        if value == 0 {
          blocks.append(nil)
        } else {
          try checkPointer(value)
          blocks.append(UInt64(value))
        }
      }
      next += UInt64(n)
    }
  }

  /// Like ext2_get_blocks() with create: the physical block of `logical`,
  /// allocating it and the indirect blocks on its path if missing (each
  /// indirect block zeroed, i_blocks counting them all). Returns the block
  /// and whether it is new. ENOSPC when the disk is full (or only the
  /// reserve is left and `mayUseReserved` is false): what was allocated
  /// on the way stays attached (the file's i_blocks counts it). The caller
  /// serializes changes to this inode's map (its ioLock, or the namespace lock).
  func getBlock(_ core: Ext2InodeCore, _ logical: UInt64, mayUseReserved: Bool = true)
    throws(Errno) -> (UInt32, Bool)
  {
    let (first, _, fresh) = try getBlocks(
      core, logical, maxBlocks: 1, mayUseReserved: mayUseReserved)
    return (first, fresh)
  }

  /// Like ext2_get_blocks() with create and a count (ext2_blks_to_allocate()
  /// + ext2_alloc_branch()): maps `logical` and up to `maxBlocks - 1` blocks
  /// after it that share its pointer block (i_block's direct slots, or one
  /// indirect block). If `logical` is mapped, returns its block and how many
  /// of the next ones follow it on the disk, not new. If it is a hole, the
  /// indirect blocks on its path are made as `getBlock` makes them, and the
  /// hole and the holes right after it get one run of consecutive blocks
  /// from one bitmap search (`newBlocks`), new. Returns (first block,
  /// blocks in the run, new). Errors as `getBlock`.
  func getBlocks(
    _ core: Ext2InodeCore, _ logical: UInt64, maxBlocks: Int, mayUseReserved: Bool = true
  ) throws(Errno) -> (first: UInt32, count: Int, fresh: Bool) {
    guard let path = Ext2BlockMap.path(logical, blockSize: superBlock.blockSize) else {
      throw .EFBIG
    }
    let sectors = UInt32(superBlock.blockSize / 512)
    let perBlock = superBlock.blockSize / 4
    let (top, goalHint) = core.lock.withLock { (core.disk.block[path[0]], core.goal) }
    let group = (core.ino - 1) / superBlock.inodesPerGroup
    var goal = goalHint != 0 ? goalHint : superBlock.groupFirstBlock(group)
    if path.count == 1 {
      // A direct block: the run stays within i_block[0..11].
      let slots = min(max(1, maxBlocks), Ext2Inode.directBlocks - path[0])
      if top != 0 {
        try checkPointer(top)
        let run = core.lock.withLock { () -> Int in
          var run = 1
          while run < slots, core.disk.block[path[0] + run] == top &+ UInt32(run) { run += 1 }
          return run
        }
        return (top, run, false)
      }
      let holes = core.lock.withLock { () -> Int in
        var holes = 1
        while holes < slots, core.disk.block[path[0] + holes] == 0 { holes += 1 }
        return holes
      }
      let (first, run) = try newBlocks(goal: goal, count: holes, mayUseReserved: mayUseReserved)
      core.lock.withLock {
        for i in 0..<run { core.disk.setPointer(path[0] + i, first &+ UInt32(i)) }
        core.disk.blocks &+= sectors &* UInt32(run)
        core.goal = first &+ UInt32(run)
      }
      return (first, run, true)
    }
    // The indirect blocks on the path, made where missing.
    var pointer = top
    if pointer == 0 {
      pointer = try newBlock(goal: goal, mayUseReserved: mayUseReserved)
      _ = try disk.zeroedBuffer(pointer)
      core.lock.withLock {
        core.disk.setPointer(path[0], pointer)
        core.disk.blocks &+= sectors
      }
    } else {
      try checkPointer(pointer)
    }
    for index in path.dropFirst().dropLast() {
      let parent = pointer
      pointer = try self.pointer(in: parent, at: index)
      if pointer != 0 {
        try checkPointer(pointer)
        continue
      }
      pointer = try newBlock(goal: parent &+ 1, mayUseReserved: mayUseReserved)
      _ = try disk.zeroedBuffer(pointer)
      try setPointer(in: parent, at: index, to: pointer)
      core.lock.withLock { core.disk.blocks &+= sectors }
    }
    // The leaf: this block's pointer and its siblings, read once.
    let leafIndex = path[path.count - 1]
    let slots = min(max(1, maxBlocks), perBlock - leafIndex)
    try checkPointer(pointer)
    let bh = try disk.buffer(pointer)
    defer { bh.release() }
    let leaf = bh.withUnsafeBytes { bytes -> [UInt32] in
      (leafIndex..<leafIndex + slots).map { i in
        i * 4 + 4 <= bytes.count
          ? bytes.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self).littleEndian : 0
      }
    }
    if leaf[0] != 0 {
      try checkPointer(leaf[0])
      var run = 1
      while run < slots, leaf[run] == leaf[0] &+ UInt32(run) { run += 1 }
      return (leaf[0], run, false)
    }
    var holes = 1
    while holes < slots, leaf[holes] == 0 { holes += 1 }
    goal = goalHint != 0 ? goalHint : pointer &+ 1
    let (first, run) = try newBlocks(goal: goal, count: holes, mayUseReserved: mayUseReserved)
    bh.modify { bytes in
      for i in 0..<run where (leafIndex + i) * 4 + 4 <= bytes.count {
        bytes.storeBytes(
          of: (first &+ UInt32(i)).littleEndian, toByteOffset: (leafIndex + i) * 4, as: UInt32.self)
      }
    }
    core.lock.withLock {
      core.disk.blocks &+= sectors &* UInt32(run)
      core.goal = first &+ UInt32(run)
    }
    return (first, run, true)
  }

  /// Stores `value` as pointer `index` of indirect block `block`.
  private func setPointer(in block: UInt32, at index: Int, to value: UInt32) throws(Errno) {
    let bh = try disk.buffer(block)
    defer { bh.release() }
    bh.modify { bytes in
      if index * 4 + 4 <= bytes.count {
        bytes.storeBytes(of: value.littleEndian, toByteOffset: index * 4, as: UInt32.self)
      }
    }
  }

  /// Like __ext2_truncate_blocks(): frees every block that maps logical
  /// blocks at or past `first`, and the indirect blocks left empty, and
  /// clears their pointers. i_blocks goes down by what was freed.
  func truncateBlocks(_ core: Ext2InodeCore, from first: UInt64) throws(Errno) {
    let perBlock = UInt64(superBlock.blockSize / 4)
    var freed: [UInt32] = []
    var block = core.snapshot.block
    let direct = UInt64(Ext2Inode.directBlocks)
    for i in 0..<Ext2Inode.directBlocks where UInt64(i) >= first && block[i] != 0 {
      freed.append(block[i])
      block[i] = 0
    }
    var start = direct
    var span = perBlock
    for depth in 1...3 {
      let slot = Ext2Inode.directBlocks + depth - 1
      if block[slot] != 0 {
        block[slot] = try trim(block[slot], depth: depth, start: start, first: first, freed: &freed)
      }
      start += span
      span *= perBlock
    }
    let sectors = UInt32(superBlock.blockSize / 512)
    core.lock.withLock {
      // Only the pointers that changed (most inodes have few blocks).
      for (i, pointer) in block.enumerated()
      where i >= core.disk.block.count || core.disk.block[i] != pointer {
        core.disk.setPointer(i, pointer)
      }
      core.disk.blocks &-= min(core.disk.blocks, UInt32(freed.count) &* sectors)
      core.goal = 0
    }
    freeBlocks(freed)
  }

  /// One subtree of `truncateBlocks`: `pointer` is an indirect block of
  /// `depth` levels whose first logical block is `start`. Returns the
  /// pointer to keep (0 when the whole subtree went).
  private func trim(
    _ pointer: UInt32, depth: Int, start: UInt64, first: UInt64, freed: inout [UInt32]
  ) throws(Errno) -> UInt32 {
    let perBlock = UInt64(superBlock.blockSize / 4)
    var span: UInt64 = 1
    for _ in 1..<depth { span *= perBlock }
    if start + span * perBlock <= first { return pointer }  // wholly kept
    guard (try? checkPointer(pointer)) != nil else { return 0 }  // damaged: drop it
    let bh = try disk.buffer(pointer)
    defer { bh.release() }
    var children = bh.withUnsafeBytes { bytes in
      (0..<Int(perBlock)).map {
        bytes.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self).littleEndian
      }
    }
    var changed = false
    for j in 0..<Int(perBlock) where children[j] != 0 {
      let childStart = start + UInt64(j) * span
      if childStart + span <= first { continue }
      let kept: UInt32
      if depth == 1 {
        kept = childStart >= first ? 0 : children[j]
        if kept == 0, (try? checkPointer(children[j])) != nil { freed.append(children[j]) }
      } else {
        kept = try trim(
          children[j], depth: depth - 1, start: childStart, first: first, freed: &freed)
      }
      if kept != children[j] {
        children[j] = kept
        changed = true
      }
    }
    if start >= first {
      freed.append(pointer)
      return 0
    }
    if changed {
      bh.modify { bytes in
        for (j, value) in children.enumerated() {
          bytes.storeBytes(of: value.littleEndian, toByteOffset: j * 4, as: UInt32.self)
        }
      }
    }
    return pointer
  }

  /// Reads `count` bytes of a directory's or symlink's data at `offset`
  /// through the buffer cache, stopping at i_size; holes read as zeros.
  func readData(
    _ inode: Ext2Inode, at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer
  ) throws(Errno) -> Int {
    guard offset < inode.size, buffer.count > 0 else { return 0 }
    let total = Int(min(UInt64(buffer.count), inode.size - offset))
    let blockSize = superBlock.blockSize
    var done = 0
    while done < total {
      let position = offset + UInt64(done)
      let logical = position / UInt64(blockSize)
      let within = Int(position % UInt64(blockSize))
      let end = done + min(total - done, blockSize - within)
      let target = UnsafeMutableRawBufferPointer(rebasing: buffer[done..<end])
      if let physical = try lookupBlock(inode, logical) {
        let bh = try disk.buffer(physical)
        bh.withUnsafeBytes { source in
          target.copyMemory(
            from: UnsafeRawBufferPointer(rebasing: source[within..<within + target.count]))
        }
        bh.release()
      } else {
        target.initializeMemory(as: UInt8.self, repeating: 0)
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
