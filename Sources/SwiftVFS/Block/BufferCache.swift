// The block buffers of one device, like the buffer_heads a file system gets
// from __bread() / sb_bread() and sb_getblk() (fs/buffer.c): metadata blocks
// (superblock, group descriptors, bitmaps, inode tables, indirect blocks,
// directories) cached in the page cache, in the device's block size.
//
// Locking: `buffers` and `writebackError` are guarded by the cache's lock;
// see PageCache.swift.

import SwiftVFSCore

/// The cached blocks of one block device, in one block size (the buffer
/// cache of a block device's mapping, with `sb_set_blocksize()` chosen).
///
/// ``read(block:)`` is `__bread()`: the block, read from the device on a
/// miss. ``get(block:)`` is `sb_getblk()`: the buffer without reading, for a
/// block the file system will overwrite whole. A file system changes a
/// buffer's bytes with ``BufferHead/modify(_:)`` (or writes and calls
/// ``BufferHead/markDirty()``), and the cache writes it back later, or at
/// once with ``BufferHead/sync()``.
///
/// The file system keeps blocks it caches here apart from those of file
/// pages (an ``AddressSpace``): a block must not be cached both ways, as in
/// the kernel (clean_bdev_aliases()).
public final class BufferCache: @unchecked Sendable {
  /// The cache the buffers live in.
  public let cache: PageCache
  /// The device the blocks are on.
  public let device: BlockDevice
  /// The size of a block in bytes (sb->s_blocksize).
  public let blockSize: Int
  /// Blocks on the device in this block size.
  public let blockCount: UInt64

  /// Cached buffers by block number; guarded by `cache.lock`.
  var buffers: [UInt64: CacheEntry] = [:]
  /// A writeback error not yet reported by sync; guarded by `cache.lock`.
  var writebackError: Errno?

  /// The buffer cache of `device` in blocks of `blockSize` bytes, in `cache`.
  ///
  /// EINVAL unless `blockSize` is a power of two from 512 to the page size
  /// (4 KiB) and a multiple of the device's logical block size, as
  /// sb_set_blocksize() refuses a size the device cannot address.
  public init(cache: PageCache, device: BlockDevice, blockSize: Int) throws(Errno) {
    guard blockSize >= BlockDevice.sectorSize, blockSize <= PageCache.pageSize,
      blockSize & (blockSize - 1) == 0, blockSize % device.logicalBlockSize == 0
    else { throw .EINVAL }
    self.cache = cache
    self.device = device
    self.blockSize = blockSize
    self.blockCount = device.sizeInBytes / UInt64(blockSize)
  }

  /// Block `block`, read from the device on a miss (__bread()). The buffer
  /// stays cached while the returned ``BufferHead`` lives or until its
  /// ``BufferHead/release()``. EIO for a block past the device's end (a
  /// corrupted block number) and for a failed read, which caches nothing.
  public func read(block: UInt64) throws(Errno) -> BufferHead {
    guard block < blockCount else { throw .EIO }
    let sector = block * UInt64(blockSize / BlockDevice.sectorSize)
    let (entry, _, inserted) = try cache.getEntry(.buffer(self), index: block, size: blockSize) {
      (bytes) throws(Errno) in
      try cache.submitBio(.read(sector: sector, into: bytes), to: device)
    }
    // Only a new entry grows the cache: a hit needs no reclaim pass (which
    // walks the LRU's cold end, and may write back, under the caller's locks).
    if inserted { cache.balance() }
    return BufferHead(buffers: self, entry: entry)
  }

  /// The buffer of block `block` without reading it (sb_getblk()): cached and
  /// up to date if it was, else zeros and not up to date, for the caller to
  /// fill whole with ``BufferHead/modify(_:)``, which marks it up to date and
  /// dirty. EIO for a block past the device's end.
  public func get(block: UInt64) throws(Errno) -> BufferHead {
    let (entry, _) = try getEntry(block: block)
    return BufferHead(buffers: self, entry: entry)
  }

  /// The buffer of a block just allocated, all zeros but for what `fill`
  /// writes, up to date and dirty (sb_getblk(), memset(), the new contents,
  /// set_buffer_uptodate() and mark_buffer_dirty() in one pass under the
  /// buffer's lock). A buffer not cached before is new and already zero
  /// (its page is cleared when it is taken), so only a cached one is
  /// cleared here: the block's page is zeroed once. EIO for a block past
  /// the device's end.
  public func getZeroed(
    block: UInt64, _ fill: (UnsafeMutableRawBufferPointer) -> Void = { _ in }
  ) throws(Errno) -> BufferHead {
    let (entry, inserted) = try getEntry(block: block)
    let bh = BufferHead(buffers: self, entry: entry)
    bh.modify { bytes in
      if !inserted { _ = bytes.initializeMemory(as: UInt8.self, repeating: 0) }
      fill(bytes)
    }
    return bh
  }

  /// The entry of block `block`, pinned, and whether it was made now
  /// (zero-filled, not up to date) rather than found cached.
  private func getEntry(block: UInt64) throws(Errno) -> (CacheEntry, Bool) {
    guard block < blockCount else { throw .EIO }
    let (entry, inserted) = cache.lock.withLock { () -> (CacheEntry, Bool) in
      // A read of the block in flight fills the bytes without their lock:
      // wait for it, as the caller of getblk() waits in lock_buffer().
      while let entry = buffers[block], entry.locked { cache.lock.wait() }
      if let entry = buffers[block] {
        entry.pins += 1
        cache.touchLocked(entry)
        return (entry, false)
      }
      let entry = CacheEntry(owner: .buffer(self), index: block, size: blockSize)
      entry.pins = 1
      cache.insertLocked(entry)
      return (entry, true)
    }
    if inserted { cache.balance() }
    return (entry, inserted)
  }

  /// Writes back this device's dirty buffers, waits for writeback in flight,
  /// and flushes the device (sync_blockdev() + blkdev_issue_flush()). Throws
  /// EIO if a write failed, now or since the last sync (reported once).
  public func sync() throws(Errno) {
    try cache.syncOwner(
      entries: { Array(buffers.values) },
      takeError: {
        defer { writebackError = nil }
        return writebackError
      }, device: device)
  }

  /// Drops block `block` from the cache even if it is dirty, because the file
  /// system freed it (bforget()): its bytes need never reach the disk. Waits
  /// for a read or writeback of it in flight first. A ``BufferHead`` still
  /// held keeps its bytes, but marking it dirty no longer writes anything.
  public func forget(block: UInt64) {
    cache.lock.withLock {
      while let entry = buffers[block], entry.locked || entry.underWriteback { cache.lock.wait() }
      if let entry = buffers[block] { cache.detachLocked(entry) }
    }
  }

  /// Drops this device's clean, idle buffers (invalidate_bdev()), as an
  /// unmount does after ``sync()`` when the cache is shared with other
  /// mounts. Dirty buffers and those held by a ``BufferHead`` stay. Returns
  /// the buffers dropped.
  @discardableResult
  public func invalidate() -> Int {
    cache.lock.withLock {
      var dropped = 0
      for entry in buffers.values where entry.isReclaimable {
        cache.detachLocked(entry)
        dropped += 1
      }
      return dropped
    }
  }

  /// The buffers cached now.
  public var cachedBufferCount: Int { cache.lock.withLock { buffers.count } }

  /// The dirty buffers now.
  public var dirtyBufferCount: Int { cache.lock.withLock { buffers.values.count { $0.dirty } } }

  /// The state of block `block`'s buffer, or nil if it is not cached.
  public func state(ofBlock block: UInt64) -> PageState? {
    cache.lock.withLock { buffers[block]?.state }
  }
}
