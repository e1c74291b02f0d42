// The page cache of a VFS, made on first use and wired to what shows it, as
// the kernel's mm sets itself up at boot: its lines of /proc/meminfo
// (meminfo_proc_show()) and /proc/vmstat (vmstat_start()), a shrinker for
// `drop_caches` (drop_pagecache_sb() via register_shrinker()), and its bio
// lines in the request trace (the block_bio_queue tracepoint). Also the
// parser of the `cache_size=` mount option.

import SwiftVFSCore

extension PageCache {
  /// What a page-cache line of /proc/vfs/trace starts with: blanks up to the
  /// opcode column, so that the bios a request caused read as part of it.
  public static let traceIndent = String(repeating: " ", count: 15)

  /// The page cache of `vfs`, made on first use with the default bound
  /// (the ext2 mount sets ``capacityBytes`` from `cache_size=`).
  ///
  /// On creation it registers, under the key "pagecache", its sections of
  /// /proc/meminfo (Buffers, Cached, Dirty, Writeback) and /proc/vmstat, a
  /// shrinker that `echo 1 > /proc/sys/vm/drop_caches` runs
  /// (``dropCleanPages()``), and a ``traceHook`` that adds its bio and miss
  /// lines to `vfs.requests.trace` while someone reads the trace. The
  /// flusher is not started here: whoever dirties pages starts it
  /// (``startFlusher()``).
  public static func of(_ vfs: VFS) -> PageCache {
    vfs.subsystem(PageCache.self) {
      let cache = PageCache()
      cache.register(in: vfs)
      return cache
    }
  }

  /// Registers the cache's /proc sections, shrinker and trace hook in `vfs`.
  /// The closures hold the cache, and the VFS holds them; none holds the VFS.
  func register(in vfs: VFS) {
    vfs.procSections.register(file: "meminfo", key: "pagecache") { [self] in stats.meminfo }
    vfs.procSections.register(file: "vmstat", key: "pagecache") { [self] in stats.vmstat }
    vfs.shrinkers.register(name: "pagecache") { [self] in dropCleanPages() }
    let requests = vfs.requests
    traceHook = { event in
      // Like the bridge: build no line when no one reads the trace.
      guard requests.tracing else { return }
      requests.trace.append(line: PageCache.traceIndent + event.line)
    }
  }

  /// The bytes a `cache_size=` value asks for: a decimal count of bytes,
  /// with an optional suffix `k`, `m` or `g` (either case) for KiB, MiB or
  /// GiB, as memparse() reads tmpfs's `size=` ("64m", "1G", "65536").
  /// EINVAL for 0, an empty value, a sign, blanks, another suffix (tmpfs's
  /// `%` and memparse's t/p/e are not taken), or a value that overflows.
  public static func parseCacheSize(_ text: String) throws(Errno) -> Int {
    let shifts: [Character: Int] = ["k": 10, "K": 10, "m": 20, "M": 20, "g": 30, "G": 30]
    var digits = Substring(text)
    var shift = 0
    if let last = digits.last, let suffix = shifts[last] {
      shift = suffix
      digits = digits.dropLast()
    }
    guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
      let value = Int(digits), value > 0
    else { throw .EINVAL }
    let (bytes, overflow) = value.multipliedReportingOverflow(by: 1 << shift)
    guard !overflow else { throw .EINVAL }
    return bytes
  }
}
