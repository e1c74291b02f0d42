// A reference to one cached block, like the kernel's `struct buffer_head`
// as __bread() returns it: the caller holds a count on the buffer (get_bh())
// until brelse(). Here the count is the handle itself: it pins the block in
// the cache until `release()` or until the handle is freed.
//
// Locking: the bytes are reached only through the closures below, which hold
// the buffer's data lock (lock_buffer() for the bytes); `released` is an
// atomic flag, so the many short-lived handles allocate no mutex. A closure may call the cache (mark dirty, read another
// block), but must not sync or forget this same buffer.

import SwiftVFSCore
import Synchronization

/// One pinned block of a ``BufferCache`` (struct buffer_head with its count held).
public final class BufferHead: @unchecked Sendable {
  /// The buffer cache the block belongs to.
  public let buffers: BufferCache
  /// The block number on the device (b_blocknr).
  public var block: UInt64 { entry.index }
  /// The block size in bytes (b_size).
  public var size: Int { entry.size }

  let entry: CacheEntry
  private let released = Atomic<Bool>(false)

  init(buffers: BufferCache, entry: CacheEntry) {
    self.buffers = buffers
    self.entry = entry
  }

  deinit { release() }

  /// Runs `body` over the block's bytes, read-only.
  public func withUnsafeBytes<T, E: Error>(
    _ body: (UnsafeRawBufferPointer) throws(E) -> T
  ) throws(E) -> T {
    try entry.dataLock.withLock { () throws(E) -> T in try body(UnsafeRawBufferPointer(entry.bytes))
    }
  }

  /// Runs `body` over the block's bytes, writable; the buffer is not marked
  /// dirty (call ``markDirty()``, or use ``modify(_:)``).
  public func withUnsafeMutableBytes<T, E: Error>(
    _ body: (UnsafeMutableRawBufferPointer) throws(E) -> T
  ) throws(E) -> T {
    try entry.dataLock.withLock { () throws(E) -> T in try body(entry.bytes) }
  }

  /// Runs `body` over the block's bytes, writable, then marks the buffer up
  /// to date and dirty (the change, then mark_buffer_dirty()). If `body`
  /// throws, the buffer is not marked.
  public func modify<T, E: Error>(
    _ body: (UnsafeMutableRawBufferPointer) throws(E) -> T
  ) throws(E) -> T {
    let result = try withUnsafeMutableBytes(body)
    markDirty()
    return result
  }

  /// A copy of the block's bytes.
  public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

  /// Copies `bytes` into the block at `offset` and marks it dirty. EINVAL if
  /// they do not fit in the block.
  public func replace(at offset: Int, with bytes: [UInt8]) throws(Errno) {
    guard offset >= 0, offset <= size, bytes.count <= size - offset else { throw .EINVAL }
    modify { block in
      bytes.withUnsafeBytes { source in
        guard let from = source.baseAddress, let to = block.baseAddress else { return }
        (to + offset).copyMemory(from: from, byteCount: source.count)
      }
    }
  }

  /// Marks the buffer dirty and up to date (mark_buffer_dirty()): the cache
  /// writes it back later. Does nothing for a buffer that was forgotten.
  public func markDirty() { buffers.cache.markDirty(entry) }

  /// Writes the buffer now if it is dirty and waits (sync_dirty_buffer()).
  /// EIO if the write fails; the buffer stays dirty.
  public func sync() throws(Errno) { try buffers.cache.syncEntry(entry) }

  /// The state bits now.
  public var state: PageState { buffers.cache.lock.withLock { entry.state } }

  /// Whether the bytes are valid (buffer_uptodate()).
  public var isUptodate: Bool { state.contains(.uptodate) }

  /// Whether the bytes wait for writeback (buffer_dirty()).
  public var isDirty: Bool { state.contains(.dirty) }

  /// Drops the pin (brelse()); later calls do nothing. The handle must not be
  /// used after it; the block may then be dropped from the cache when clean.
  public func release() {
    let first = released.compareExchange(
      expected: false, desired: true, ordering: .acquiringAndReleasing
    ).exchanged
    if first { buffers.cache.unpin(entry) }
  }
}
