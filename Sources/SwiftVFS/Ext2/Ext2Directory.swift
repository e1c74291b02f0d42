// Directories: struct ext2_dir_entry_2 records laid end to end in each block
// (fs/ext2/dir.c). Every block is checked as ext2_check_folio() checks it
// before any entry is believed: rec_len at least 12, a multiple of 4, large
// enough for its name and not crossing the block; the inode number at most
// s_inodes_count; the records ending exactly at the block's end. An htree
// directory (dx_root) reads the same way, as the kernel's ext2 reads it: the
// index hides in a ".." record that spans its block and in empty records.
// readdir cookies are byte offsets into the directory (ctx->pos).

import SwiftVFSBlock
import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// Directory records (struct ext2_dir_entry_2): their sizes and file types.
/// The records themselves are read in place (`Ext2Record`).
enum Ext2DirEntry {
  /// EXT2_DIR_REC_LEN(1): the smallest record.
  static let minRecordLength = 12

  /// EXT2_DIR_REC_LEN(name_len).
  static func recordLength(nameLength: Int) -> Int { (nameLength + 8 + 3) & ~3 }

  /// ext2_filetype_table: EXT2_FT_* to a file type.
  static func type(fromDisk value: UInt8) -> FileType? {
    switch value {
    case 1: .regular
    case 2: .directory
    case 3: .characterDevice
    case 4: .blockDevice
    case 5: .fifo
    case 6: .socket
    case 7: .symlink
    default: nil
    }
  }
}

extension Ext2FileSystemInfo {
  /// The number of blocks of directory `dir`: i_size must be whole blocks
  /// ("size of directory is not a multiple of chunk size") and no more
  /// blocks than the file system has.
  func directoryBlockCount(_ dir: Ext2Inode) throws(Errno) -> UInt64 {
    let blockSize = UInt64(superBlock.blockSize)
    guard dir.size % blockSize == 0 else { throw EFSCORRUPTED }
    let count = dir.size / blockSize
    guard count <= UInt64(superBlock.blocksCount) else { throw EFSCORRUPTED }
    return count
  }

  /// Checks one directory block's records in place, as ext2_check_folio()
  /// does (no copy), then hands each to `body` until it returns false.
  func scanDirectoryBlock(
    _ raw: UnsafeRawBufferPointer, _ body: (Ext2Record) -> Bool
  ) throws(Errno) {
    let blockSize = min(raw.count, superBlock.blockSize)
    // Read once: taking a field of the superblock struct in the loop
    // retained and released its arrays per record.
    let inodesCount = superBlock.inodesCount
    var offset = 0
    var records = 0
    // Each record is at least 12 bytes, so this ends within blockSize/12 steps.
    while offset <= blockSize - Ext2DirEntry.minRecordLength {
      let record = Ext2Record(raw, at: offset)
      guard record.recordLength >= Ext2DirEntry.minRecordLength,  // Eshort
        record.recordLength & 3 == 0,  // Ealign
        record.recordLength >= Ext2DirEntry.recordLength(nameLength: record.nameLength),  // Enamelen
        offset + record.recordLength <= blockSize,  // Espan
        record.ino <= inodesCount  // Einumber
      else { throw EFSCORRUPTED }
      offset += record.recordLength
      records += 1
    }
    guard offset == blockSize else { throw EFSCORRUPTED }  // Eend
    offset = 0
    for _ in 0..<records {
      let record = Ext2Record(raw, at: offset)
      if !body(record) { return }
      offset += record.recordLength
    }
  }

  /// Runs `body` over the bytes of directory block `index` of `dir`
  /// (EUCLEAN for a hole), its buffer pinned meanwhile.
  func withDirectoryBlock<T>(
    _ dir: Ext2Inode, _ index: UInt64, _ body: (BufferHead) throws(Errno) -> T
  ) throws(Errno) -> T {
    guard let physical = try lookupBlock(dir, index) else { throw EFSCORRUPTED }
    let bh = try disk.buffer(physical)
    defer { bh.release() }
    return try body(bh)
  }

  /// Like ext2_readdir() with no copy of a record: each block of `dir`
  /// from the one holding byte offset `offset` on is checked like
  /// ext2_check_folio() and its records at or after `offset` are handed to
  /// `body`, with the block's bytes and the block's byte offset in the
  /// directory, until `body` returns false. The block's bytes are a copy
  /// in one scratch block for the whole call (not an array per block), so
  /// that no buffer lock is held while `body` runs (it may read inodes).
  func scanDirectory(
    _ dir: Ext2Inode, from offset: UInt64,
    _ body: (Ext2Record, UnsafeRawBufferPointer, UInt64) -> Bool
  ) throws(Errno) {
    let blockSize = superBlock.blockSize
    let count = try directoryBlockCount(dir)
    var index = offset / UInt64(blockSize)
    guard index < count else { return }
    try withUnsafeTemporaryAllocation(byteCount: blockSize, alignment: 8) {
      (scratch) throws(Errno) in
      while index < count {
        let copied = try withDirectoryBlock(dir, index) { (bh) throws(Errno) -> Int in
          bh.withUnsafeBytes { raw in
            let n = min(raw.count, blockSize)
            scratch.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<n]))
            return n
          }
        }
        let raw = UnsafeRawBufferPointer(rebasing: scratch[0..<copied])
        let start = index * UInt64(blockSize)
        var more = true
        // A short buffer fails the check (Eend): EUCLEAN.
        try scanDirectoryBlock(raw) { record in
          guard start + UInt64(record.offset) >= offset else { return true }
          more = body(record, raw, start)
          return more
        }
        if !more { return }
        index += 1
      }
    }
  }

  /// Like ext2_find_entry(): the inode number `name` names in `dir`, or nil.
  /// The search starts at the block where the last name was found in `core`
  /// (i_dir_start_lookup) and wraps around, as ext2_find_entry() does: a
  /// name is in one place only, so the answer is the same, and a run of
  /// lookups or unlinks in directory order reads one block each.
  func findEntry(_ dir: Ext2Inode, _ name: [UInt8], core: Ext2InodeCore? = nil) throws(Errno)
    -> UInt32?
  {
    guard let found = try locate(dir, name, core: core) else { return nil }
    found.bh.release()
    return found.ino
  }
}

// Changes to directories, like ext2_add_link(), ext2_delete_entry(),
// ext2_set_link(), ext2_make_empty() and ext2_empty_dir() in fs/ext2/dir.c.
// The caller holds the namespace lock. A directory with EXT2_INDEX_FL loses
// the flag at its first change: fs/ext2 never updates an htree index, so
// once the records change the index would be stale; without the flag e2fsck
// checks the directory as a linear one, and the old index blocks are valid
// linear records (empty ones, or the ".." record that spans dx_root).
extension Ext2FileSystemInfo {
  /// EXT2_INDEX_FL (EXT2_BTREE_FL).
  static let indexFlag: UInt32 = 0x1000

  /// EXT2_FT_* of a file type (ext2_set_de_type()); 0 without FILETYPE.
  func diskFileType(_ type: FileType) -> UInt8 {
    guard superBlock.has(incompat: Ext2Features.fileType) else { return 0 }
    switch type {
    case .regular: return 1
    case .directory: return 2
    case .characterDevice: return 3
    case .blockDevice: return 4
    case .fifo: return 5
    case .socket: return 6
    case .symlink: return 7
    }
  }

  /// Writes a record header and name at `offset` of a block's bytes.
  static func putEntry(
    _ bytes: UnsafeMutableRawBufferPointer, at offset: Int, ino: UInt32, recordLength: Int,
    name: [UInt8], fileType: UInt8
  ) {
    bytes.storeBytes(of: ino.littleEndian, toByteOffset: offset, as: UInt32.self)
    bytes.storeBytes(
      of: UInt16(recordLength).littleEndian, toByteOffset: offset + 4, as: UInt16.self)
    bytes[offset + 6] = UInt8(name.count)
    bytes[offset + 7] = fileType
    for (i, byte) in name.enumerated() { bytes[offset + 8 + i] = byte }
  }

  /// Writes "." (naming `ino`) and ".." (naming `parent`, spanning the rest
  /// of the block) at the start of a new directory block, without a
  /// temporary array for the names.
  static func putDotEntries(
    _ bytes: UnsafeMutableRawBufferPointer, ino: UInt32, parent: UInt32, type: UInt8
  ) {
    guard bytes.count >= 24 else { return }
    bytes.storeBytes(of: ino.littleEndian, toByteOffset: 0, as: UInt32.self)
    bytes.storeBytes(of: UInt16(12).littleEndian, toByteOffset: 4, as: UInt16.self)
    bytes[6] = 1
    bytes[7] = type
    bytes[8] = 0x2E
    bytes.storeBytes(of: parent.littleEndian, toByteOffset: 12, as: UInt32.self)
    bytes.storeBytes(
      of: UInt16(truncatingIfNeeded: bytes.count - 12).littleEndian, toByteOffset: 16,
      as: UInt16.self)
    bytes[18] = 2
    bytes[19] = type
    bytes[20] = 0x2E
    bytes[21] = 0x2E
  }

  /// Clears EXT2_INDEX_FL of a directory about to change.
  private func dropIndex(_ core: Ext2InodeCore) {
    core.lock.withLock { core.disk.flags &= ~Ext2FileSystemInfo.indexFlag }
  }

  /// Like ext2_add_link(): a record for `name` → `ino` in `dir`, in the
  /// first unused record or the slack of a used one big enough (its rec_len
  /// split), else in a new block at the end (i_size grows by a block).
  func addLink(_ dir: Inode, _ name: [UInt8], ino: UInt32, type: FileType) throws(Errno) {
    let core = try core(of: dir)
    dropIndex(core)
    let disk = core.snapshot
    let blockSize = superBlock.blockSize
    let needed = Ext2DirEntry.recordLength(nameLength: name.count)
    let fileType = diskFileType(type)
    let count = try directoryBlockCount(disk)
    // The blocks the last add found without room for this many bytes are
    // passed over unread: the slot chosen is the first with room, as
    // ext2_add_link() chooses it scanning from block 0.
    let first = core.lock.withLock { () -> UInt64 in
      needed >= core.noRoomSize ? min(core.noRoomBelow, count) : 0
    }
    for index in first..<count {
      let placed = try withDirectoryBlock(disk, index) { (bh) throws(Errno) -> Bool in
        // The first record with room: unused and long enough, or used with
        // enough slack after its name.
        let slot = try bh.withUnsafeBytes { (raw) throws(Errno) -> (Int, Int, Int)? in
          var slot: (Int, Int, Int)?
          try scanDirectoryBlock(raw) { record in
            let used =
              record.ino == 0 ? 0 : Ext2DirEntry.recordLength(nameLength: record.nameLength)
            if record.recordLength >= used + needed {
              slot = (record.offset, used, record.recordLength)
            }
            return slot == nil
          }
          return slot
        }
        guard let (offset, used, recordLength) = slot else { return false }
        bh.modify { bytes in
          if used == 0 {
            Ext2FileSystemInfo.putEntry(
              bytes, at: offset, ino: ino, recordLength: recordLength, name: name,
              fileType: fileType)
          } else {
            bytes.storeBytes(
              of: UInt16(used).littleEndian, toByteOffset: offset + 4, as: UInt16.self)
            Ext2FileSystemInfo.putEntry(
              bytes, at: offset + used, ino: ino, recordLength: recordLength - used,
              name: name, fileType: fileType)
          }
        }
        return true
      }
      if placed {
        noRoom(core, below: index, size: needed)
        touchDirectory(dir)
        return
      }
    }
    noRoom(core, below: count, size: needed)
    // No room: a new block (ext2_add_link()'s "extend the directory").
    let (physical, _) = try getBlock(core, count)
    let bh = try self.disk.zeroedBuffer(physical) { bytes in
      Ext2FileSystemInfo.putEntry(
        bytes, at: 0, ino: ino, recordLength: blockSize, name: name, fileType: fileType)
    }
    bh.release()
    dir.lock.withLock { dir.size += Int64(blockSize) }
    syncBlocks(dir, core)
    touchDirectory(dir)
  }

  /// Notes that blocks `0..<below` of directory `core` have no free slot of
  /// `size` bytes (those from the hint's start were just scanned, those
  /// before it had no slot of the hint's size, which is at most `size`).
  private func noRoom(_ core: Ext2InodeCore, below: UInt64, size: Int) {
    core.lock.withLock {
      core.noRoomBelow = below
      core.noRoomSize = size
    }
  }

  /// mtime and ctime of a changed directory, written.
  func touchDirectory(_ dir: Inode) {
    let now = Timestamp.now
    dir.lock.withLock {
      dir.mtime = now
      dir.ctime = now
    }
    try? writeInode(dir)
    markDirty(dir)
  }

  /// The buffer, offset and record of `name` in `dir`, or nil, searched
  /// from `core`'s i_dir_start_lookup on (see `findEntry`), which moves to
  /// the block it is found in. The found block's buffer comes back pinned
  /// (as ext2_find_entry() returns its folio mapped), so a change to the
  /// record needs no second lookup; the caller releases it.
  private func locate(_ dir: Ext2Inode, _ name: [UInt8], core: Ext2InodeCore?) throws(Errno)
    -> (bh: BufferHead, offset: Int, previous: Int?, recordLength: Int, ino: UInt32, index: UInt64)?
  {
    let count = try directoryBlockCount(dir)
    guard count > 0 else { return nil }
    var start = core?.lock.withLock { core?.dirStartLookup } ?? 0
    if start >= count { start = 0 }
    for step in 0..<count {
      let index = (start + step) % count
      // A hole reads as zeros, whose rec_len 0 fails the check: EUCLEAN.
      guard let physical = try lookupBlock(dir, index) else { throw EFSCORRUPTED }
      let bh = try disk.buffer(physical)
      let found: (Int, Int?, Int, UInt32)?
      do {
        found = try bh.withUnsafeBytes { (raw) throws(Errno) -> (Int, Int?, Int, UInt32)? in
          var previous: Int?
          var found: (Int, Int?, Int, UInt32)?
          try scanDirectoryBlock(raw) { record in
            if record.ino != 0, record.hasName(name, in: raw) {
              found = (record.offset, previous, record.recordLength, record.ino)
              return false
            }
            previous = record.offset
            return true
          }
          return found
        }
      } catch {
        bh.release()
        throw error
      }
      guard let found else {
        bh.release()
        continue
      }
      if let core { core.lock.withLock { core.dirStartLookup = index } }
      return (bh, found.0, found.1, found.2, found.3, index)
    }
    return nil
  }

  /// Like ext2_delete_entry(): the record of `name` joins the one before it
  /// in its block (its rec_len grows), or, first in its block, gets inode 0.
  func deleteEntry(_ dir: Inode, _ name: [UInt8]) throws(Errno) {
    let core = try core(of: dir)
    dropIndex(core)
    guard let found = try locate(core.snapshot, name, core: core) else { throw .ENOENT }
    let bh = found.bh
    defer { bh.release() }
    // The freed bytes make room in this block: the add hint stops before it.
    core.lock.withLock { core.noRoomBelow = min(core.noRoomBelow, found.index) }
    bh.modify { bytes in
      if let previous = found.previous {
        let length = found.offset + found.recordLength - previous
        bytes.storeBytes(
          of: UInt16(length).littleEndian, toByteOffset: previous + 4, as: UInt16.self)
      }
      bytes.storeBytes(of: UInt32(0), toByteOffset: found.offset, as: UInt32.self)
    }
    touchDirectory(dir)
  }

  /// Like ext2_set_link(): the record of `name` now names `ino`.
  func setLink(_ dir: Inode, _ name: [UInt8], ino: UInt32, type: FileType, touch: Bool = true)
    throws(Errno)
  {
    let core = try core(of: dir)
    dropIndex(core)
    guard let found = try locate(core.snapshot, name, core: core) else { throw .ENOENT }
    let bh = found.bh
    defer { bh.release() }
    let fileType = diskFileType(type)
    bh.modify { bytes in
      bytes.storeBytes(of: ino.littleEndian, toByteOffset: found.offset, as: UInt32.self)
      bytes[found.offset + 7] = fileType
    }
    if touch { touchDirectory(dir) } else { try? writeInode(dir) }
  }

  /// Like ext2_make_empty(): the first block of a new directory, with "."
  /// and "..".
  func makeEmpty(_ dir: Inode, _ core: Ext2InodeCore, parent: UInt32) throws(Errno) {
    let blockSize = superBlock.blockSize
    let (physical, _) = try getBlock(core, 0)
    let type = diskFileType(.directory)
    // One pass over the new block: zeros (only if its buffer was cached),
    // then "." and ".." written in place, as ext2_make_empty() fills the
    // folio it zeroed.
    let bh = try disk.zeroedBuffer(physical) { bytes in
      Ext2FileSystemInfo.putDotEntries(bytes, ino: core.ino, parent: parent, type: type)
    }
    bh.release()
    dir.lock.withLock { dir.size = Int64(blockSize) }
    syncBlocks(dir, core)
  }

  /// Like ext2_empty_dir(): nothing but "." and "..".
  func isEmptyDirectory(_ dir: Ext2Inode) throws(Errno) -> Bool {
    for index in 0..<(try directoryBlockCount(dir)) {
      let empty = try withDirectoryBlock(dir, index) { (bh) throws(Errno) -> Bool in
        try bh.withUnsafeBytes { (raw) throws(Errno) -> Bool in
          var empty = true
          try scanDirectoryBlock(raw) { record in
            if record.ino != 0, !record.hasName([0x2E], in: raw),
              !record.hasName([0x2E, 0x2E], in: raw)
            {
              empty = false
            }
            return empty
          }
          return empty
        }
      }
      if !empty { return false }
    }
    return true
  }
}

/// One record's header read in place (struct ext2_dir_entry_2 without a copy).
struct Ext2Record {
  /// Its byte offset in the block.
  let offset: Int
  /// inode.
  let ino: UInt32
  /// rec_len.
  let recordLength: Int
  /// name_len.
  let nameLength: Int

  init(_ raw: UnsafeRawBufferPointer, at offset: Int) {
    self.offset = offset
    ino = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    recordLength = Int(
      UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self)))
    nameLength = Int(raw[offset + 6])
  }

  /// Whether its name is `name` (ext2_match()); the record must be checked.
  func hasName(_ name: [UInt8], in raw: UnsafeRawBufferPointer) -> Bool {
    guard nameLength == name.count, offset + 8 + nameLength <= raw.count,
      let base = raw.baseAddress
    else { return false }
    return name.withUnsafeBytes { wanted in
      guard let bytes = wanted.baseAddress else { return nameLength == 0 }
      return memcmp(base + offset + 8, bytes, nameLength) == 0
    }
  }
}
