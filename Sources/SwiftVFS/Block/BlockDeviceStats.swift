// Per-device I/O counters, like the kernel's `struct disk_stats`
// (include/linux/part_stat.h), which /sys/block/X/stat prints.

/// A device's completed I/O counts (struct disk_stats), as /sys/block/X/stat shows them.
///
/// Only completed bios count, as in the kernel (part_stat_inc() runs at
/// completion, in blk_account_io_done()); a bio refused by the checks or
/// failed by the driver counts nothing. No merges happen here (every bio is
/// one request), and time is not measured, so the merge and tick fields of
/// the stat line print 0.
public struct BlockDeviceStats: Sendable, Equatable {
  /// READ bios completed (field 1, "read I/Os").
  public var readsCompleted: UInt64 = 0
  /// Sectors read (field 3, "read sectors").
  public var sectorsRead: UInt64 = 0
  /// WRITE bios completed (field 5, "write I/Os").
  public var writesCompleted: UInt64 = 0
  /// Sectors written (field 7, "write sectors").
  public var sectorsWritten: UInt64 = 0
  /// FLUSH bios completed (field 16, "flush I/Os").
  public var flushesCompleted: UInt64 = 0

  /// All counters at zero.
  public init() {}

  /// The seventeen fields of /sys/block/X/stat, as part_stat_show() prints
  /// them ("%8lu" each, one space apart, a newline at the end): reads, read
  /// merges, read sectors, read ticks, writes, write merges, write sectors,
  /// write ticks, in flight, io ticks, time in queue, discards (four fields),
  /// flushes, flush ticks.
  public var statLine: String {
    let fields: [UInt64] = [
      readsCompleted, 0, sectorsRead, 0,
      writesCompleted, 0, sectorsWritten, 0,
      0, 0, 0,
      0, 0, 0, 0,
      flushesCompleted, 0,
    ]
    return fields.map { BlockDeviceStats.pad(String($0), 8) }.joined(separator: " ") + "\n"
  }

  static func pad(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
  }
}
