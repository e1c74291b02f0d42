// The text the kernel prints about block devices: /proc/partitions
// (show_partition() in block/genhd.c), the "Block devices:" part of
// /proc/devices (blkdev_show()) and /sys/block/X/stat (part_stat_show()).
// Functions returning text; a VFS's registry registers them as /proc
// sections (`registerProcSections`), and the proc file system prints the
// headers.

import SwiftVFSCore

extension BlockDeviceRegistry {
  /// The header of /proc/partitions (show_partition()'s first lines).
  public static let partitionsHeader = "major minor  #blocks  name\n\n"

  /// /proc/partitions as show_partition() prints it: ``partitionsHeader``,
  /// then ``partitionLines()``.
  public func procPartitions() -> String {
    BlockDeviceRegistry.partitionsHeader + partitionLines()
  }

  /// The lines of /proc/partitions under the header: for each disk
  /// "%4d  %7d %10llu %s" with its size in 1 KiB blocks. Disks of size 0 are
  /// left out, as the kernel leaves out a loop device with nothing attached.
  public func partitionLines() -> String {
    var out = ""
    for disk in disks where disk.sizeInSectors > 0 {
      out +=
        BlockDeviceStats.pad(String(disk.dev.major), 4) + "  "
        + BlockDeviceStats.pad(String(disk.dev.minor), 7) + " "
        + BlockDeviceStats.pad(String(disk.sizeInSectors >> 1), 10) + " " + disk.name + "\n"
    }
    return out
  }

  /// The block part of /proc/devices as blkdev_show() prints it: the line
  /// "Block devices:", then ``blockMajorLines()``.
  public func procDevicesBlockSection() -> String {
    "Block devices:\n" + blockMajorLines()
  }

  /// The lines under "Block devices:": "%3d %s" for each registered major, by number.
  public func blockMajorLines() -> String {
    majors.map { BlockDeviceStats.pad(String($0.major), 3) + " " + $0.name + "\n" }.joined()
  }

  /// /sys/block/`name`/stat for an added disk, or nil if there is none by that name.
  public func sysBlockStat(_ name: String) -> String? {
    disk(named: name)?.stats.statLine
  }

  /// Registers the registry's sections of /proc files, under the key "block":
  /// the lines of "partitions" (``partitionLines()``) and of "devices" after
  /// "Block devices:" (``blockMajorLines()``). The proc file system prints
  /// the headers, so that a file has them once whoever contributes.
  func registerProcSections(_ sections: ProcSections) {
    sections.register(file: "partitions", key: "block") { [self] in partitionLines() }
    sections.register(file: "devices", key: "block") { [self] in blockMajorLines() }
  }
}
