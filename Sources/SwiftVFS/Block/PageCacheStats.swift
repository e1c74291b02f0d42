// The page cache's counters, and the text of the parts of /proc/meminfo
// (meminfo_proc_show() in fs/proc/meminfo.c) and /proc/vmstat (vmstat_show()
// in mm/vmstat.c) that describe it. Functions returning text: the proc file
// system wires them in.

/// The page cache's counters (what /proc/meminfo and /proc/vmstat show of it).
///
/// Byte counts are of what is cached now; event counts only grow. A hit or
/// a miss is one page or buffer looked up by a read, a partial write, or
/// ``BufferCache/read(block:)``; a page overwritten whole, and a buffer
/// from ``BufferCache/get(block:)``, count as neither.
public struct PageCacheStats: Sendable, Equatable {
  /// The bound, in bytes (cache_size=).
  public var capacityBytes: UInt64 = 0
  /// Bytes of file pages cached ("Cached:", NR_FILE_PAGES without the buffers).
  public var cachedBytes: UInt64 = 0
  /// Bytes of block buffers cached ("Buffers:", nr_blockdev_pages()).
  public var bufferBytes: UInt64 = 0
  /// Bytes of pages and buffers that wait for writeback ("Dirty:", NR_FILE_DIRTY).
  public var dirtyBytes: UInt64 = 0
  /// Bytes being written back now ("Writeback:", NR_WRITEBACK).
  public var writebackBytes: UInt64 = 0
  /// Lookups that found the page or buffer cached and up to date.
  public var hits: UInt64 = 0
  /// Lookups that had to read from the device.
  public var misses: UInt64 = 0
  /// Pages and buffers read from the device.
  public var pagesRead: UInt64 = 0
  /// Pages and buffers written back to the device.
  public var pagesWritten: UInt64 = 0
  /// Bytes read from the device into the cache (pgpgin, in bytes).
  public var bytesRead: UInt64 = 0
  /// Bytes written back from the cache (pgpgout, in bytes).
  public var bytesWritten: UInt64 = 0
  /// Clean entries dropped to stay under the bound or by drop_caches (like pgsteal).
  public var evictions: UInt64 = 0

  /// All counters at zero.
  public init() {}

  /// The page cache's lines of /proc/meminfo, as meminfo_proc_show() prints
  /// them with show_val_kb(): the name padded to 16 columns, the value in kB
  /// right-aligned in 8, then " kB": `Buffers:`, `Cached:`, `Dirty:`,
  /// `Writeback:`, in the kernel's order.
  public var meminfo: String {
    let rows: [(String, UInt64)] = [
      ("Buffers:", bufferBytes), ("Cached:", cachedBytes), ("Dirty:", dirtyBytes),
      ("Writeback:", writebackBytes),
    ]
    return rows.map { name, bytes in
      name + String(repeating: " ", count: max(0, 16 - name.count))
        + BlockDeviceStats.pad(String(bytes / 1024), 8) + " kB\n"
    }.joined()
  }

  /// The page cache's lines of /proc/vmstat ("name value", one a line):
  /// `nr_dirty` and `nr_writeback` in 4 KiB pages (rounded up), `pgpgin` and
  /// `pgpgout` in KiB, as the kernel shows them, then this project's own
  /// `pagecache_hits` and `pagecache_misses`.
  public var vmstat: String {
    let page = UInt64(PageCache.pageSize)
    let rows: [(String, UInt64)] = [
      ("nr_dirty", (dirtyBytes + page - 1) / page),
      ("nr_writeback", (writebackBytes + page - 1) / page),
      ("pgpgin", bytesRead / 1024), ("pgpgout", bytesWritten / 1024),
      ("pagecache_hits", hits), ("pagecache_misses", misses),
    ]
    return rows.map { "\($0.0) \($0.1)\n" }.joined()
  }
}
