// The proc files whose text other layers write (`VFS.procSections`), like
// the files that code outside fs/proc registers with proc_create_single():
// /proc/partitions (genhd), the block part of /proc/devices (blkdev_show()),
// /proc/meminfo's page-cache lines and /proc/vmstat (mm). The proc file
// system prints the headers and the defaults; it never imports the layers.

import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

enum ProcSectionReports {
  /// /proc/partitions: show_partition()'s header, "major minor  #blocks
  /// name" and an empty line, then the sections' lines (one per disk).
  static func partitions(_ vfs: VFS) -> String {
    "major minor  #blocks  name\n\n" + (vfs.procSections.text(of: "partitions") ?? "")
  }

  /// /proc/devices: the char majors and the "Block devices:" line
  /// (ProcReports.devices), then the sections' block majors.
  static func devices(_ vfs: VFS) -> String {
    ProcReports.devices(vfs) + (vfs.procSections.text(of: "devices") ?? "")
  }

  /// The lines /proc/meminfo shows for the page cache when none is registered.
  static let noPageCacheMeminfo = ["Buffers:", "Cached:", "Dirty:", "Writeback:"].map {
    meminfoLine($0, kilobytes: 0)
  }.joined()

  /// /proc/meminfo: MemTotal, MemFree and MemAvailable of the host, from
  /// sysinfo(2) (through sysconf's _SC_PHYS_PAGES and _SC_AVPHYS_PAGES, which
  /// glibc answers from it: the Glibc module does not import sys/sysinfo.h),
  /// then the sections' lines (the page cache's Buffers, Cached, Dirty and
  /// Writeback), or those four at 0 when no section is registered.
  ///
  /// Unlike the kernel, MemAvailable is not si_mem_available() (sysinfo has
  /// no such field): it is the free memory, a lower bound. The kernel's other
  /// lines (Active, Slab, swap, ...) are left out.
  static func meminfo(_ vfs: VFS) -> String {
    let pageKilobytes = UInt64(max(sysconf(Int32(_SC_PAGESIZE)), 0)) / 1024
    let total = UInt64(max(sysconf(Int32(_SC_PHYS_PAGES)), 0)) &* pageKilobytes
    let free = UInt64(max(sysconf(Int32(_SC_AVPHYS_PAGES)), 0)) &* pageKilobytes
    return meminfoLine("MemTotal:", kilobytes: total) + meminfoLine("MemFree:", kilobytes: free)
      + meminfoLine("MemAvailable:", kilobytes: free)
      + (vfs.procSections.text(of: "meminfo") ?? noPageCacheMeminfo)
  }

  /// /proc/vfs/superblocks: what each mounted disk file system tells of its
  /// superblock (ext2 registers a `dumpe2fs -h`-like report per mount, as
  /// the section "superblocks"), or a line saying there is none.
  static func superBlocks(_ vfs: VFS) -> String {
    vfs.procSections.text(of: "superblocks") ?? "no disk file system mounted\n"
  }

  /// /proc/vmstat: the sections' "name value" lines (the page cache's
  /// nr_dirty, nr_writeback, pgpgin, pgpgout, hits and misses); empty when
  /// none is registered.
  static func vmstat(_ vfs: VFS) -> String {
    vfs.procSections.text(of: "vmstat") ?? ""
  }

  /// One line as meminfo_proc_show()'s show_val_kb() prints it: the name
  /// padded to 16 columns, the value right-aligned in 8, then " kB".
  static func meminfoLine(_ name: String, kilobytes: UInt64) -> String {
    ProcReports.rightPad(name, 16) + ProcReports.pad(String(kilobytes), 8) + " kB\n"
  }
}
