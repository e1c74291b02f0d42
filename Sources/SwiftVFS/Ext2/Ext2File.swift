// Regular files' data, like fs/ext2/file.c and the address_space_operations
// of fs/ext2/inode.c (ext2_read_folio, ext2_writepages over ext2_get_block):
// a file's pages live in its AddressSpace; a page maps to blocks through the
// block map; holes read as zeros. Blocks are allocated when a write reaches
// them (ext2_write_begin → ext2_get_block with create), before the page is
// dirtied, so writeback only maps, never allocates. A new block that the
// write covers only in part is zeroed on the disk first (as the kernel
// zeroes the new buffer's unwritten parts), so its stale bytes never show.

import SwiftVFSBlock
import SwiftVFSCore

/// How a file's pages reach its blocks (ext2_aops).
struct Ext2AddressSpace: AddressSpaceOperations {
  let info: Ext2FileSystemInfo
  let core: Ext2InodeCore

  /// The blocks of pages `index..<index + count`: one per block-size part,
  /// nil for a hole.
  private func blocks(ofPage index: UInt64, count: Int = 1) throws(Errno) -> [UInt64?] {
    let perPage = PageCache.pageSize / info.superBlock.blockSize
    var blocks: [UInt64?] = []
    blocks.reserveCapacity(perPage * count)
    try info.lookupBlocks(
      core.snapshot, index * UInt64(perPage), count: perPage * count, into: &blocks)
    return blocks
  }

  /// Like ext2_read_folio() (mpage_read_folio()).
  func readFolio(_ mapping: AddressSpace, index: UInt64, into page: UnsafeMutableRawBufferPointer)
    throws(Errno)
  {
    try mapping.cache.readBlocks(
      try blocks(ofPage: index), blockSize: info.superBlock.blockSize, from: info.disk.device,
      into: page)
  }

  /// ext2 reads runs of missing pages at once (ext2_readahead()).
  var readsPageRuns: Bool { true }

  /// Like ext2_readahead() (mpage_readahead()): one map walk for the run,
  /// one bio per run of consecutive blocks.
  func readFolios(
    _ mapping: AddressSpace, index: UInt64, count: Int, into pages: UnsafeMutableRawBufferPointer
  ) throws(Errno) {
    try mapping.cache.readBlocks(
      try blocks(ofPage: index, count: count), blockSize: info.superBlock.blockSize,
      from: info.disk.device, into: pages)
  }

  /// ext2 takes the pages where they lie: a run's blocks go as scattered
  /// bios (one preadv/pwritev each), with no copy through a buffer.
  var takesScatteredPages: Bool { true }

  /// ext2_readahead() into the pages themselves.
  func readFolios(
    _ mapping: AddressSpace, index: UInt64, intoPages pages: [UnsafeMutableRawBufferPointer]
  ) throws(Errno) {
    try mapping.cache.readBlocks(
      try blocks(ofPage: index, count: pages.count), blockSize: info.superBlock.blockSize,
      from: info.disk.device, intoPages: pages)
  }

  /// ext2_writepages() from the pages themselves.
  func writepages(
    _ mapping: AddressSpace, index: UInt64, fromPages pages: [UnsafeRawBufferPointer]
  ) throws(Errno) {
    try mapping.cache.writeBlocks(
      try blocks(ofPage: index, count: pages.count), blockSize: info.superBlock.blockSize,
      to: info.disk.device, fromPages: pages)
  }

  /// Like ext2_writepages() for one page: the mapped parts go to their blocks.
  func writepage(_ mapping: AddressSpace, index: UInt64, from page: UnsafeRawBufferPointer)
    throws(Errno)
  {
    try mapping.cache.writeBlocks(
      try blocks(ofPage: index), blockSize: info.superBlock.blockSize, to: info.disk.device,
      from: page)
  }

  /// ext2 takes runs of pages: their blocks, mostly consecutive, go as
  /// one bio per run (mpage_writepages()).
  var writesPageRuns: Bool { true }

  /// Like ext2_writepages() over consecutive pages.
  func writepages(
    _ mapping: AddressSpace, index: UInt64, count: Int, from pages: UnsafeRawBufferPointer
  ) throws(Errno) {
    try mapping.cache.writeBlocks(
      try blocks(ofPage: index, count: count), blockSize: info.superBlock.blockSize,
      to: info.disk.device, from: pages)
  }
}

extension Ext2FileSystemInfo {
  /// The pages of a regular file's inode.
  func mapping(of inode: Inode) throws(Errno) -> AddressSpace {
    guard let mapping = (inode.privateData as? Ext2InodeInfo)?.mapping else { throw .EINVAL }
    return mapping
  }

  /// Like ext2_file_write_iter() (generic_perform_write()): allocates the
  /// blocks the range reaches, copies into the pages, moves i_size. When the
  /// disk fills, the bytes whose blocks were found are written and their
  /// count returned; ENOSPC only if not one byte fits.
  func write(
    _ inode: Inode, from buffer: UnsafeRawBufferPointer, at offset: Int64, cred: Cred = .root
  ) throws(Errno) -> Int {
    let reserved = mayUseReserved(cred)
    guard offset >= 0 else { throw .EINVAL }
    guard buffer.count > 0 else { return 0 }
    let core = try core(of: inode)
    let mapping = try mapping(of: inode)
    let maxSize = inode.sb.maxFileSize
    guard offset < maxSize else { throw .EFBIG }
    let count = Int(min(Int64(buffer.count), maxSize - offset))
    let blockSize = UInt64(superBlock.blockSize)
    return try core.ioLock.withWriteLock { () throws(Errno) -> Int in
      let start = UInt64(offset)
      let end = start + UInt64(count)
      var covered = end
      var logical = start / blockSize
      let last = (end - 1) / blockSize
      while logical <= last {
        // Runs of blocks: one map walk and one bitmap search for each.
        let (first, run, fresh): (UInt32, Int, Bool)
        do throws(Errno) {
          (first, run, fresh) = try getBlocks(
            core, logical, maxBlocks: Int(min(last - logical + 1, 1 << 16)),
            mayUseReserved: reserved)
        } catch  where error == .ENOSPC {
          covered = max(start, logical * blockSize)
          break
        }
        if fresh {
          // Only the range's first and last blocks can be written in part.
          let firstStart = logical * blockSize
          if start > firstStart || end < firstStart + blockSize { try zeroBlock(first) }
          let lastStart = (logical + UInt64(run - 1)) * blockSize
          if run > 1, end < lastStart + blockSize { try zeroBlock(first &+ UInt32(run - 1)) }
        }
        logical += UInt64(run)
      }
      syncBlocks(inode, core)
      guard covered > start else {
        try writeInode(inode)
        throw .ENOSPC
      }
      let written = Int(covered - start)
      try mapping.write(
        at: start, from: UnsafeRawBufferPointer(rebasing: buffer[0..<written]))
      let now = Timestamp.now
      inode.lock.withLock {
        if Int64(covered) > inode.size { inode.size = Int64(covered) }
        inode.mtime = now
        inode.ctime = now
      }
      try writeInode(inode)
      markDirty(inode)
      return written
    }
  }

  /// Writes a block of zeros to the disk at once (a new block's unwritten parts).
  func zeroBlock(_ block: UInt32) throws(Errno) {
    let zeros = [UInt8](repeating: 0, count: superBlock.blockSize)
    let sector = UInt64(block) * UInt64(superBlock.blockSize / 512)
    try ext2Typed {
      try zeros.withUnsafeBytes { raw in
        _ = try disk.cache.submitBio(.write(sector: sector, from: raw), to: disk.device)
      }
    }
  }

  /// Like ext2_setsize(): the pages past `size` go (the partial one zeroed
  /// past it), then the blocks past it; the tail of the last block is
  /// zeroed on the disk too (block_truncate_page()). Growing only moves i_size.
  func setSize(_ inode: Inode, _ size: Int64) throws(Errno) {
    let core = try core(of: inode)
    try core.ioLock.withWriteLock { () throws(Errno) in
      try truncateLocked(inode, core, to: UInt64(max(0, size)))
    }
  }

  /// `setSize` with the inode's ioLock held.
  func truncateLocked(_ inode: Inode, _ core: Ext2InodeCore, to size: UInt64) throws(Errno) {
    let blockSize = UInt64(superBlock.blockSize)
    let oldSize = UInt64(max(0, inode.lock.withLock { inode.size }))
    if let mapping = (inode.privateData as? Ext2InodeInfo)?.mapping {
      mapping.truncate(from: size)
      if size < oldSize, size % blockSize != 0,
        let block = try lookupBlock(core.snapshot, size / blockSize)
      {
        // block_truncate_page(): the rest of the last block reads as zeros.
        let length = Int(blockSize - size % blockSize)
        let zeros = [UInt8](repeating: 0, count: length)
        _ = block
        try ext2Typed {
          try zeros.withUnsafeBytes { raw in try mapping.write(at: size, from: raw) }
        }
      }
    }
    if size < oldSize || inode.type != .regular {
      try truncateBlocks(core, from: (size + blockSize - 1) / blockSize)
    }
    let now = Timestamp.now
    inode.lock.withLock {
      inode.size = Int64(size)
      if size != oldSize {
        inode.mtime = now
        inode.ctime = now
      }
    }
    syncBlocks(inode, core)
    try writeInode(inode)
  }

  /// Like ext2_evict_inode() for an inode with no links: frees its blocks,
  /// its xattr block's reference, then its number, with i_dtime set.
  func deleteInode(_ inode: Inode) throws(Errno) {
    let core = try core(of: inode)
    if core.lock.withLock({ core.freed }) { return }
    let disk = core.snapshot
    let isFastSymlink = isFastSymlink(disk)
    let hasBlocks =
      inode.type == .regular || inode.type == .directory
      || (inode.type == .symlink && !isFastSymlink)
    if let mapping = (inode.privateData as? Ext2InodeInfo)?.mapping { mapping.truncate(from: 0) }
    if hasBlocks { try truncateBlocks(core, from: 0) }
    if disk.fileACL != 0 { releaseXattrBlock(core) }
    let now = UInt32(truncatingIfNeeded: max(0, Timestamp.now.sec))
    inode.lock.withLock { inode.size = 0 }
    try writeInode(inode, deletedAt: now)
    unhash(inode, ino: core.ino)
    freeInodeNumber(core.ino, isDirectory: inode.type == .directory)
  }
}

/// The file operations (ext2_file_operations, ext2_dir_operations).
struct Ext2FileOperations: FileOperations {
  let info: Ext2FileSystemInfo

  /// Every change to the image goes through this mount (no one else may
  /// write it while mounted, as with the kernel's own ext2), so the kernel
  /// may keep the pages it read and the listings it got; a close needs no
  /// FLUSH (nothing is written at close).
  func open(_ inode: Inode, _ file: File) throws(Errno) {
    if inode.isDirectory {
      file.cacheDirectory = true
    } else {
      file.keepCache = true
      file.noFlush = true
    }
  }

  /// Like ext2_file_read_iter(): the pages of the file, clipped at i_size;
  /// around the page cache for O_DIRECT (`AddressSpace.spliceDirect`).
  func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    let inode = file.inode
    guard inode.type == .regular else { throw inode.isDirectory ? .EISDIR : .EINVAL }
    guard offset >= 0 else { throw .EINVAL }
    let direct = file.isDirect
    return try readBelowSize(inode, at: offset, count: buffer.count) {
      (mapping, n) throws(Errno) in
      let target = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<n])
      guard direct, let base = target.baseAddress else {
        return try mapping.read(at: UInt64(offset), into: target)
      }
      try mapping.spliceDirect(at: UInt64(offset), count: n) { slices in
        var at = 0
        for slice in slices {
          (base + at).copyMemory(from: slice.baseAddress!, byteCount: slice.count)
          at += slice.count
        }
      }
    }
  }

  /// `read` with the reply made from the cached pages themselves, no copy
  /// into a buffer (filemap_splice_read()). Anything but a regular file goes
  /// to `read` (false), which gives its error.
  func spliceRead(
    _ file: File, at offset: Int64, count: Int, to sink: ([UnsafeRawBufferPointer]) -> Void
  ) throws(Errno) -> Bool {
    let inode = file.inode
    guard inode.type == .regular, offset >= 0 else { return false }
    // ext2_file_read_iter(): IOCB_DIRECT reads go around the page cache.
    let direct = file.isDirect
    let spliced = try readBelowSize(inode, at: offset, count: count) {
      (mapping, n) throws(Errno) in
      if direct {
        try mapping.spliceDirect(at: UInt64(offset), count: n, to: sink)
      } else {
        try mapping.splice(at: UInt64(offset), count: n, to: sink)
      }
    }
    if spliced == 0 { sink([]) }  // at or past the end: an empty reply
    return true
  }

  /// The read of `count` bytes at `offset` clipped at i_size: `body` gets
  /// the file's pages and the byte count, under the inode's I/O lock taken
  /// shared (and is not called when nothing lies there); then
  /// file_accessed(), atime as the mount's policy says, written at the next
  /// sync. Returns the byte count.
  private func readBelowSize(
    _ inode: Inode, at offset: Int64, count: Int,
    _ body: (AddressSpace, Int) throws(Errno) -> Void
  ) throws(Errno) -> Int {
    let mapping = try info.mapping(of: inode)
    let core = try info.core(of: inode)
    let n = try core.ioLock.withReadLock { () throws(Errno) -> Int in
      let size = inode.lock.withLock { inode.size }
      guard offset < size, count > 0 else { return 0 }
      let n = Int(min(Int64(count), size - offset))
      try body(mapping, n)
      return n
    }
    guard n > 0, !info.readOnly else { return n }
    let moved = inode.lock.withLock { () -> Bool in
      let before = inode.atime
      inode.touchAtimeLocked()
      return inode.atime != before
    }
    if moved { info.markDirty(inode) }
    return n
  }

  /// Like ext2_file_write_iter().
  func write(_ file: File, from buffer: UnsafeRawBufferPointer, at offset: Int64) throws(Errno)
    -> Int
  {
    guard file.inode.type == .regular else { throw .EINVAL }
    return try info.write(file.inode, from: buffer, at: offset, cred: file.cred)
  }

  /// Like ext2_fsync() (generic_buffers_fsync()): the file's pages, then its
  /// inode and the metadata buffers, then a device flush.
  func fsync(_ file: File, dataOnly: Bool) throws(Errno) {
    guard !info.readOnly else { return }
    if let mapping = try? info.mapping(of: file.inode) { try mapping.sync() }
    try info.writeInode(file.inode)
    try info.disk.buffers.sync()
  }

  /// Like ext2_readdir(): every used record from cookie `offset` on, "."
  /// and ".." included as the disk holds them; a cookie is the byte offset
  /// of the next record. Each entry carries its inode (for readdirplus)
  /// unless that inode cannot be read.
  func iterate(_ file: File, from offset: Int64, _ emit: (DirEntry) -> Bool) throws(Errno) {
    try iterate(file, from: offset, inodes: true, emit)
  }

  /// `iterate`; with `inodes` false, an entry whose record names its type
  /// (FILETYPE), and that type is neither a directory nor a character
  /// device, comes without its inode: a listing of names then reads no
  /// inode and looks none up in the table, as ext2_readdir() does.
  func iterate(
    _ file: File, from offset: Int64, inodes: Bool, _ emit: (DirEntry) -> Bool
  ) throws(Errno) {
    // The records as `iterateNames` reads them in place, each made a
    // DirEntry: its name copied, and its inode found for a directory (the
    // VFS looks for mount points) or when `inodes` asks.
    try iterateNames(file, from: offset) { view in
      guard let name = try? FileName(Array(view.name)) else { return true }
      var inode = view.inode
      if inode == nil, !name.isDotOrDotDot, inodes || view.type == .directory,
        let number = UInt32(exactly: view.ino)
      {
        inode = try? info.iget(number)
      }
      return emit(
        DirEntry(name: name, ino: view.ino, type: view.type, offset: view.offset, inode: inode))
    }
  }

  /// `iterate` for a listing of names, over the records in place, as
  /// ext2_readdir() hands dir_emit() the name in its folio: no `FileName`,
  /// `DirEntry` or array per entry. No inode is read but for a record that
  /// does not name its type (no FILETYPE, or a type ext2 does not know:
  /// the inode says) or names a character device (whose node's view the
  /// inode decides); a directory's comes from the VFS only if a mount
  /// covers it. The same entries, cookies and skips as `iterate`.
  func iterateNames(_ file: File, from offset: Int64, _ emit: (DirEntryView) -> Bool)
    throws(Errno)
  {
    guard file.inode.isDirectory else { throw .ENOTDIR }
    let disk = try info.diskInode(of: file.inode)
    let hasFileType = info.superBlock.has(incompat: Ext2Features.fileType)
    try info.scanDirectory(disk, from: UInt64(offset)) { record, raw, start in
      guard record.ino != 0 else { return true }
      // The check made the name lie inside the record, inside the block.
      let nameStart = record.offset + 8
      let name = UnsafeRawBufferPointer(
        rebasing: raw[nameStart..<(nameStart + record.nameLength)])
      guard DirEntryView.isShowableName(name) else { return true }  // unshowable: skip
      let next = Int64(start) + Int64(record.offset + record.recordLength)
      let ino = UInt64(record.ino)
      if DirEntryView.isDotOrDotDot(name) {
        return emit(DirEntryView(name: name, ino: ino, type: .directory, offset: next, inode: nil))
      }
      let diskType = hasFileType ? Ext2DirEntry.type(fromDisk: raw[record.offset + 7]) : nil
      var inode: Inode?
      if diskType == nil || diskType == .characterDevice { inode = try? info.iget(record.ino) }
      let type = diskType ?? inode?.type ?? .regular
      return emit(DirEntryView(name: name, ino: ino, type: type, offset: next, inode: inode))
    }
  }
}
