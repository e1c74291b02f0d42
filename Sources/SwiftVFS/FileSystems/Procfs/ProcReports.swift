import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// The texts of the read-only proc files, each made from one consistent look
/// at the VFS. The kernel's own files are copied in format (field order,
/// tabs); the VFS reports are "name value" lines or tables with a header,
/// for people and for `awk`.
enum ProcReports {
  /// /proc/sys/fs/dentry-state, like dentry_stat_t in fs/dcache.c: nr_dentry,
  /// nr_unused, age_limit (45), want_pages (0), nr_negative, dummy (0),
  /// tab-separated as proc_doulongvec_minmax prints them.
  static func dentryState(_ vfs: VFS) -> String {
    let s = vfs.dcache.stats
    return tabbed([s.entries, s.unused, 45, 0, s.negative, 0])
  }

  /// /proc/sys/fs/inode-nr, like inodes_stat in fs/inode.c: nr_inodes (every
  /// inode allocated and not yet evicted, in all superblocks) and nr_unused
  /// (those no kernel lookup and no open file holds).
  static func inodeNr(_ vfs: VFS) -> String {
    let (total, unused) = inodeCounts(vfs)
    return tabbed([total, unused])
  }

  /// /proc/sys/fs/inode-state: the same two, then five zeros (the kernel's dummy[5]).
  static func inodeState(_ vfs: VFS) -> String {
    let (total, unused) = inodeCounts(vfs)
    return tabbed([total, unused, 0, 0, 0, 0, 0])
  }

  static func inodeCounts(_ vfs: VFS) -> (total: Int, unused: Int) {
    let total = vfs.mounts.reduce(0) { $0 + Int($1.superBlock.usedInodes) }
    let inUse = vfs.icache.stats.inUse
    return (total, max(total - inUse, 0))
  }

  /// /proc/vfs/dcache: the dcache's sizes and counters, one "name value" a
  /// line. The hit ratio counts negative hits as hits (the cache answered).
  static func dcache(_ vfs: VFS) -> String {
    let s = vfs.dcache.stats
    let answered = s.hits + s.negativeHits
    let ratio =
      s.lookups == 0 ? "-" : percent(Double(answered) / Double(s.lookups))
    let lines: [(String, String)] = [
      ("entries", "\(s.entries)"), ("unused", "\(s.unused)"), ("negative", "\(s.negative)"),
      ("capacity", "\(s.capacity)"), ("lookups", "\(s.lookups)"), ("hits", "\(s.hits)"),
      ("misses", "\(s.misses)"), ("negative_hits", "\(s.negativeHits)"), ("hit_ratio", ratio),
      ("evictions", "\(s.evictions)"), ("buckets", "\(s.buckets)"),
      ("longest_chain", "\(s.longestChain)"),
    ]
    return lines.map { rightPad($0.0, 15) + pad($0.1, 12) + "\n" }.joined()
  }

  /// /proc/vfs/inodes: per superblock, inodes the kernel holds (in use),
  /// their lookup counts summed, inodes evicted since mount, files open,
  /// inodes allocated (nr_inodes of that superblock), and inodes the kernel
  /// holds that the cache let go to bound its memory (dropped: loaded again
  /// from the disk when the kernel names one; their lookups are counted).
  static func inodes(_ vfs: VFS) -> String {
    let bySB = vfs.icache.statsBySuperBlock
    var out =
      "sb  type        mount        in_use   lookups   evicted  open_files  allocated   dropped\n"
    for m in vfs.mounts {
      let sb = m.superBlock
      let s = bySB[sb.id] ?? InodeCache.Stats()
      out +=
        rightPad(String(sb.id), 4) + rightPad(sb.fsType.name, 12) + rightPad(m.path, 11)
        + pad("\(s.inUse)", 8) + pad("\(s.lookups)", 10) + pad("\(sb.evictedInodes)", 10)
        + pad("\(s.openFiles)", 12) + pad("\(sb.usedInodes)", 11) + pad("\(s.dropped)", 10) + "\n"
    }
    return out
  }

  /// /proc/vfs/requests: the request table, one row per FUSE opcode in
  /// number order, then a line about the trace.
  static func requests(_ vfs: VFS) -> String {
    var out =
      "  op  opcode           vfs operation                      calls    errors    mean_us     p99_us\n"
    for row in vfs.requests.table {
      let code = row.code == 0 ? "-" : String(row.code)
      let operation = row.handled ? (row.operation.isEmpty ? "?" : row.operation) : "unhandled"
      let timed = row.calls > 0
      out +=
        pad(code, 4) + "  " + rightPad(row.opcode, 16) + " " + rightPad(operation, 32)
        + pad("\(row.calls)", 8) + pad("\(row.errors)", 10)
        + pad(timed ? formatMicros(row.meanNanos) : "-", 11)
        + pad(timed ? formatMicros(row.p99Nanos) : "-", 11) + "\n"
    }
    let trace = vfs.requests.trace
    out +=
      "# trace: \(trace.readerCount) readers, \(trace.lineCount) lines, "
      + "\(trace.lostLines) lost by slow readers\n"
    return out
  }

  /// /proc/filesystems, as the kernel prints it: "nodev" and a tab before
  /// each type that needs no block device (all of ours).
  static func filesystems(_ vfs: VFS) -> String {
    vfs.filesystems.names.map { "nodev\t\($0)\n" }.joined()
  }

  /// /proc/mounts, as show_vfsmnt() prints it: source (mount(8)'s SOURCE,
  /// else the type's name), mount point (in this tree), type, options ("rw"
  /// or "ro" first), and two zeros.
  static func mounts(_ vfs: VFS) -> String {
    vfs.mounts.map { m in
      let sb = m.superBlock
      var options = [sb.readOnly ? "ro" : "rw"]
      options += sb.options.items.filter { !["ro", "rw", "source"].contains($0.key) }
        .map { item in item.value.map { "\(item.key)=\($0)" } ?? item.key }
      let source = sb.options.value("source") ?? sb.fsType.name
      return "\(escape(source)) \(escape(m.path)) \(sb.fsType.name) "
        + "\(options.joined(separator: ",")) 0 0\n"
    }.joined()
  }

  /// /proc/devices, as chrdev_show() and blkdev_show() print it: each
  /// registered char region's major and name ("%3d %s"), then the line
  /// "Block devices:" (the block majors come from `procSections`).
  static func devices(_ vfs: VFS) -> String {
    var out = "Character devices:\n"
    let regions = vfs.chrdevs.allRegions.sorted {
      ($0.base.major, $0.base.minor) < ($1.base.major, $1.base.minor)
    }
    for r in regions { out += pad(String(r.base.major), 3) + " \(r.name)\n" }
    out += "\nBlock devices:\n"
    return out
  }

  /// /proc/vfs/devnodes: every device node in the tree (from `VFS.deviceNodes`),
  /// with its type, number and the driver that serves it now ("-": none, so
  /// the node shows as the char node it is, and the kernel won't open it).
  /// The nodes' side of /proc/devices' majors.
  static func deviceNodes(_ vfs: VFS) -> String {
    var out = "# path                 type  major:minor  driver\n"
    for node in vfs.deviceNodes() {
      out +=
        rightPad(node.path, 22) + " " + rightPad(node.typeLetter, 5) + " "
        + rightPad(node.rdev.description, 12) + " " + (node.driver ?? "-") + "\n"
    }
    return out
  }

  /// /proc/vfs/objects, like /proc/slabinfo: the live objects of each kind,
  /// the bytes one takes (its heap block, as malloc_usable_size reports it;
  /// a page is a superblock block), and their total in KiB.
  static func objects(_ vfs: VFS) -> String {
    let root = vfs.root
    let inodes = vfs.mounts.reduce(0) { $0 + Int($1.superBlock.usedInodes) }
    let pages = vfs.mounts.reduce(0) { $0 + Int($1.superBlock.usedBlocks) }
    let pageSize = vfs.rootSuperBlock.blockSize
    let dentry = Dentry(parentIno: 0, name: "x", hash: 0, inode: nil, pinned: false)
    let file = File(inode: root, flags: 0, cred: .root, fileOps: NoFileOperations())
    let rows: [(String, Int, Int)] = [
      ("inode", inodes, heapSize(root)),
      ("dentry", vfs.dcache.stats.entries, heapSize(dentry)),
      ("file", vfs.openFileCount, heapSize(file)),
      ("page", pages, pageSize),
    ]
    var out = "# name     active_objs   objsize  total_kb\n"
    for (name, count, size) in rows {
      out +=
        rightPad(name, 10) + pad("\(count)", 12) + pad("\(size)", 10)
        + pad("\((count * size + 1023) / 1024)", 10) + "\n"
    }
    return out
  }

  // MARK: - Helpers

  /// Right-aligns `s` in `width` columns.
  static func pad(_ s: String, _ width: Int) -> String {
    let n = s.count
    return n >= width ? s : String(repeating: " ", count: width - n) + s
  }

  /// Left-aligns `s` in `width` columns.
  static func rightPad(_ s: String, _ width: Int) -> String {
    let n = s.count
    return n >= width ? s : s + String(repeating: " ", count: width - n)
  }

  /// Nanoseconds as microseconds with one decimal: "12.3".
  static func formatMicros(_ nanos: UInt64) -> String {
    let tenths = (nanos + 50) / 100
    return "\(tenths / 10).\(tenths % 10)"
  }

  static func tabbed(_ values: [Int]) -> String {
    values.map(String.init).joined(separator: "\t") + "\n"
  }

  static func percent(_ fraction: Double) -> String {
    let tenths = Int((fraction * 1000).rounded())
    return "\(tenths / 10).\(tenths % 10)%"
  }

  /// The bytes the allocator gave an object (its instance plus rounding).
  static func heapSize(_ object: AnyObject) -> Int {
    mallocUsableSize(Unmanaged.passUnretained(object).toOpaque())
  }

  /// Like mangle() in fs/proc_namespace.c: space, tab, newline and backslash
  /// in octal, so a path is one field.
  static func escape(_ path: String) -> String {
    var out = ""
    for c in path.unicodeScalars {
      switch c {
      case " ": out += "\\040"
      case "\t": out += "\\011"
      case "\n": out += "\\012"
      case "\\": out += "\\134"
      default: out.unicodeScalars.append(c)
      }
    }
    return out
  }
}

/// glibc's malloc_usable_size(3) (malloc.h, which the Glibc module leaves out).
@_silgen_name("malloc_usable_size")
private func mallocUsableSize(_ pointer: UnsafeMutableRawPointer) -> Int
