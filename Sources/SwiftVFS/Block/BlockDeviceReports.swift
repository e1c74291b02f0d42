// The text the kernel prints about block devices: /proc/partitions
// (show_partition() in block/genhd.c), the "Block devices:" part of
// /proc/devices (blkdev_show()) and /sys/block/X/stat (part_stat_show()).
// Functions returning text: the proc file system wires them in.

extension BlockDeviceRegistry {
  /// /proc/partitions as show_partition() prints it: the header
  /// "major minor  #blocks  name" and an empty line, then for each disk
  /// "%4d  %7d %10llu %s" with its size in 1 KiB blocks. Disks of size 0 are
  /// left out, as the kernel leaves out a loop device with nothing attached.
  public func procPartitions() -> String {
    var out = "major minor  #blocks  name\n\n"
    for disk in disks where disk.sizeInSectors > 0 {
      out +=
        BlockDeviceStats.pad(String(disk.dev.major), 4) + "  "
        + BlockDeviceStats.pad(String(disk.dev.minor), 7) + " "
        + BlockDeviceStats.pad(String(disk.sizeInSectors >> 1), 10) + " " + disk.name + "\n"
    }
    return out
  }

  /// The block part of /proc/devices as blkdev_show() prints it: the line
  /// "Block devices:", then "%3d %s" for each registered major, by number.
  public func procDevicesBlockSection() -> String {
    var out = "Block devices:\n"
    for entry in majors {
      out += BlockDeviceStats.pad(String(entry.major), 3) + " " + entry.name + "\n"
    }
    return out
  }

  /// /sys/block/`name`/stat for an added disk, or nil if there is none by that name.
  public func sysBlockStat(_ name: String) -> String? {
    disk(named: name)?.stats.statLine
  }
}
