import SwiftVFSCore

/// What /proc holds, file by file: the layout of the tree and what each file
/// shows or takes. The texts are made by `ProcReports`; the controls act here.
///
/// ```
/// /proc/devices  filesystems  meminfo  mounts  partitions  vmstat
///       sysrq-trigger (w)
/// /proc/sys/fs/  dentry-state  inode-nr  inode-state  dcache-max (rw)
/// /proc/sys/vm/  drop_caches (w)
/// /proc/vfs/     dcache  inodes  requests  connection  objects  devnodes  superblocks
///                check  trace  reset (w)
/// ```
enum ProcTree {
  /// The largest `dcache-max` taken (INT_MAX, as proc_dointvec's ceiling).
  static let dcacheMaxLimit = Int(Int32.max)

  static func spec(_ vfs: VFS) -> ProcTreeSpec {
    .dir(
      "proc",  // the root's name is never shown; only its children's are
      [
        .file("devices") { [unowned vfs] in ProcSectionReports.devices(vfs) },
        .file("filesystems") { [unowned vfs] in ProcReports.filesystems(vfs) },
        .file("meminfo") { [unowned vfs] in ProcSectionReports.meminfo(vfs) },
        .file("mounts") { [unowned vfs] in ProcReports.mounts(vfs) },
        .file("partitions") { [unowned vfs] in ProcSectionReports.partitions(vfs) },
        .file("vmstat") { [unowned vfs] in ProcSectionReports.vmstat(vfs) },
        .control(
          "sysrq-trigger", read: nil,
          write: { [unowned vfs] text throws(Errno) in try sysrq(vfs, text) }),
        .dir(
          "sys",
          [
            .dir(
              "fs",
              [
                .file("dentry-state") { [unowned vfs] in ProcReports.dentryState(vfs) },
                .file("inode-nr") { [unowned vfs] in ProcReports.inodeNr(vfs) },
                .file("inode-state") { [unowned vfs] in ProcReports.inodeState(vfs) },
                .control(
                  "dcache-max", read: { [unowned vfs] in "\(vfs.dcache.capacity)\n" },
                  write: { [unowned vfs] text throws(Errno) in
                    vfs.dcache.capacity = try ProcControl.integer(text, in: 1...dcacheMaxLimit)
                  }),
              ]),
            .dir(
              "vm",
              [
                .control(
                  "drop_caches", read: nil,
                  write: { [unowned vfs] text throws(Errno) in
                    dropCaches(vfs, try ProcControl.integer(text, in: 1...4))
                  })
              ]),
          ]),
        .dir(
          "vfs",
          [
            .file("dcache") { [unowned vfs] in ProcReports.dcache(vfs) },
            .file("inodes") { [unowned vfs] in ProcReports.inodes(vfs) },
            .file("requests") { [unowned vfs] in ProcReports.requests(vfs) },
            // The FUSE connection: protocol, transport, limits, flags agreed.
            .file("connection") { [unowned vfs] in vfs.requests.connectionReport() },
            .file("objects") { [unowned vfs] in ProcReports.objects(vfs) },
            .file("devnodes") { [unowned vfs] in ProcReports.deviceNodes(vfs) },
            // What disk file systems say of their superblocks (ext2: like dumpe2fs -h).
            .file("superblocks") { [unowned vfs] in ProcSectionReports.superBlocks(vfs) },
            // fsck of the live tree: "ok", or one line per broken invariant.
            .file("check") { [unowned vfs] in
              let problems = vfs.check()
              return problems.isEmpty ? "ok\n" : problems.joined(separator: "\n") + "\n"
            },
            .trace("trace"),
            .control(
              "reset", read: nil,
              write: { [unowned vfs] text throws(Errno) in
                _ = try ProcControl.integer(text, in: 1...1)
                reset(vfs)
              }),
          ]),
      ])
  }

  /// Like drop_caches_sysctl_handler(): 1 frees the page cache, 2 the
  /// dentries and inodes nothing uses, 3 both; 4 (the kernel's "stop
  /// logging" bit) does nothing. 1 runs the registered shrinkers (the block
  /// layer's page cache drops its clean pages; memfs pages are the files'
  /// data, never dropped); unused inodes are evicted as soon as they become
  /// unused, so 2 is the dcache's LRU (shrink_dcache_sb). Pinned roots and
  /// data, and dirty pages, are never lost.
  static func dropCaches(_ vfs: VFS, _ value: Int) {
    if value & 1 != 0 { vfs.shrinkers.shrinkAll() }
    if value & 2 != 0 { vfs.dcache.shrink(to: 0) }
  }

  /// Like write_sysrq_trigger(): the first character is the key. `s` is
  /// the emergency sync (SysRq-S), every mounted file system written back;
  /// unlike the kernel's, which queues it, it is done when the write
  /// returns, and a failed writeback is the write's EIO. It is how a user
  /// makes an image whole without unmounting: FUSE sends nothing for
  /// sync(2) (only virtiofs gets FUSE_SYNCFS). Other keys do nothing here,
  /// as the kernel does nothing for a key it has no handler for.
  static func sysrq(_ vfs: VFS, _ text: String) throws(Errno) {
    if text.first == "s" { try vfs.syncAll() }
  }

  /// /proc/vfs/reset: zeroes the dcache's event counters, the request table
  /// and the trace's lost-line count. Sizes (entries, inodes) stay.
  static func reset(_ vfs: VFS) {
    vfs.dcache.resetCounters()
    vfs.requests.reset()
  }
}
