// Directories: struct ext2_dir_entry_2 records laid end to end in each block
// (fs/ext2/dir.c). Every block is checked as ext2_check_folio() checks it
// before any entry is believed: rec_len at least 12, a multiple of 4, large
// enough for its name and not crossing the block; the inode number at most
// s_inodes_count; the records ending exactly at the block's end. An htree
// directory (dx_root) reads the same way, as the kernel's ext2 reads it: the
// index hides in a ".." record that spans its block and in empty records.
// readdir cookies are byte offsets into the directory (ctx->pos).

import SwiftVFSCore

/// One directory record (struct ext2_dir_entry_2).
struct Ext2DirEntry {
  /// EXT2_DIR_REC_LEN(1): the smallest record.
  static let minRecordLength = 12

  /// inode: 0 for an unused record.
  var ino: UInt32
  /// Its byte offset in the directory.
  var position: UInt64
  /// rec_len.
  var recordLength: Int
  /// file_type (with FILETYPE), else 0.
  var fileType: UInt8
  /// name[name_len].
  var name: [UInt8]

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

  /// The records of directory block `index`, checked like ext2_check_folio().
  func directoryBlock(_ dir: Ext2Inode, _ index: UInt64, map: inout Ext2BlockMap)
    throws(Errno) -> [Ext2DirEntry]
  {
    // A hole reads as zeros, whose rec_len 0 fails the check: EUCLEAN.
    guard let physical = try map.lookup(dir, index) else { throw EFSCORRUPTED }
    let data = try disk.readBlock(physical)
    let b = Ext2Bytes(data)
    let blockSize = superBlock.blockSize
    let hasFileType = superBlock.has(incompat: Ext2Features.fileType)
    var entries: [Ext2DirEntry] = []
    var offset = 0
    // Each record is at least 12 bytes, so this ends within blockSize/12 steps.
    while offset <= blockSize - Ext2DirEntry.minRecordLength {
      let ino = b.u32(offset)
      let recordLength = Int(b.u16(offset + 4))
      let nameLength = Int(b.u8(offset + 6))
      guard recordLength >= Ext2DirEntry.minRecordLength,  // Eshort
        recordLength & 3 == 0,  // Ealign
        recordLength >= Ext2DirEntry.recordLength(nameLength: nameLength),  // Enamelen
        offset + recordLength <= blockSize,  // Espan
        ino <= superBlock.inodesCount  // Einumber
      else { throw EFSCORRUPTED }
      entries.append(
        Ext2DirEntry(
          ino: ino, position: index * UInt64(blockSize) + UInt64(offset),
          recordLength: recordLength, fileType: hasFileType ? b.u8(offset + 7) : 0,
          name: b.slice(offset + 8, nameLength)))
      offset += recordLength
    }
    guard offset == blockSize else { throw EFSCORRUPTED }  // Eend
    return entries
  }

  /// Like ext2_find_entry(): the inode number `name` names in `dir`, or nil.
  func findEntry(_ dir: Ext2Inode, _ name: [UInt8]) throws(Errno) -> UInt32? {
    var map = Ext2BlockMap(self)
    for index in 0..<(try directoryBlockCount(dir)) {
      for entry in try directoryBlock(dir, index, map: &map)
      where entry.ino != 0 && entry.name == name {
        return entry.ino
      }
    }
    return nil
  }

  /// Like ext2_readdir(): the used records from byte offset `offset` on,
  /// handed to `emit` until it returns false. An offset inside a record
  /// resumes at the next record (ext2_validate_entry()).
  func readDirectory(
    _ dir: Ext2Inode, from offset: UInt64, _ emit: (Ext2DirEntry) throws(Errno) -> Bool
  ) throws(Errno) {
    let blockSize = UInt64(superBlock.blockSize)
    let count = try directoryBlockCount(dir)
    var map = Ext2BlockMap(self)
    var index = offset / blockSize
    while index < count {
      for entry in try directoryBlock(dir, index, map: &map)
      where entry.position >= offset && entry.ino != 0 {
        if try !emit(entry) { return }
      }
      index += 1
    }
  }
}
