/// A consistency checker for the live tree, like fsck for a mounted file
/// system: it walks every superblock under its namespace lock and reports
/// each broken invariant as one line. Used by /proc/vfs/check and at the end
/// of every stress and fuzz test.
///
/// Invariants checked:
/// - each inode's nlink equals the entries naming it (plus "." and the
///   subdirectories' ".." for a directory), and no entry names an evicted inode;
/// - an unlinked inode still in the inode cache is held by a lookup or an open file;
/// - the file system's own per-inode checks (`SuperOperations.check`: sizes,
///   st_blocks and stored pages), and the ACLs agree with the mode (PosixAcl);
/// - every dcache entry agrees with its directory;
/// - the superblock's inode and block counters agree with a recount;
/// - the index of live inodes for file handles holds exactly those not evicted.
extension VFS {
  /// Checks the live tree's invariants; returns one line per problem (none: clean).
  public func check() -> [String] {
    var problems: [String] = []
    let superBlocks = mountLock.withLock { mounts.map(\.superBlock) }
    let dentries = dcache.allEntries()
    for sb in superBlocks {
      sb.namespaceLock.withWriteLock {
        problems += check(sb, dentries: dentries)
      }
    }
    return problems
  }

  private func check(
    _ sb: SuperBlock, dentries: [(parentIno: UInt64, name: FileName, inode: Inode?)]
  ) -> [String] {
    var problems: [String] = []
    var links: [UInt64: UInt32] = [:]
    var seen: [UInt64: Inode] = [sb.root.ino: sb.root]
    var queue = [sb.root]
    links[sb.root.ino] = 2  // "." and the entry above it (the mount point)
    while let dir = queue.popLast() {
      for (name, child) in entries(of: dir) {
        if child.lock.withLock({ child.nlink }) == 0 || icache.isEvicted(child) {
          problems.append(
            "\(sb.fsType.name): entry \(name) in dir \(dir.ino) names dead inode \(child.ino)")
        }
        links[child.ino, default: 0] += 1
        if child.isDirectory {
          links[child.ino, default: 0] += 1  // its own "."
          links[dir.ino, default: 0] += 1  // its ".." names dir
          if seen[child.ino] == nil { queue.append(child) }
        }
        seen[child.ino] = child
      }
    }
    var named = UInt64(0)
    for (ino, inode) in seen {
      let nlink = inode.lock.withLock { inode.nlink }
      // Each extra name of a non-directory is charged too (see memfs link).
      named += inode.isDirectory ? 1 : UInt64(max(nlink, 1))
      if nlink != links[ino] {
        problems.append(
          "\(sb.fsType.name): inode \(ino) has nlink \(nlink), \(links[ino] ?? 0) entries")
      }
      problems += sb.ops.check(inode)
      problems += PosixAcl.check(inode)
    }
    // Unlinked inodes kept alive by the kernel or an open file; and the
    // counters, read while the inode cache holds still (evictions run
    // inside its lock).
    icache.withTable { table in
      var orphans: [Inode] = []
      for inode in table where inode.sb === sb && seen[inode.ino] == nil && !inode.evicted {
        orphans.append(inode)
        if inode.lookupCount == 0 && inode.openCount == 0 {
          problems.append("\(sb.fsType.name): orphan inode \(inode.ino) with no holder")
        }
        problems += sb.ops.check(inode)
      }
      if sb.indexesInodes {
        let indexed = sb.indexedInodeCount
        if indexed != seen.count + orphans.count {
          problems.append(
            "\(sb.fsType.name): \(indexed) inodes indexed for handles, \(seen.count + orphans.count) live"
          )
        }
        for (ino, inode) in seen where sb.liveInode(ino) !== inode {
          problems.append("\(sb.fsType.name): inode \(ino) is not indexed for handles")
        }
      }
      let live = named + UInt64(orphans.count)
      if live != sb.usedInodes {
        problems.append("\(sb.fsType.name): \(sb.usedInodes) inodes counted, \(live) found")
      }
      if let blocks = sb.ops.blocksHeld(Array(seen.values) + orphans), blocks != sb.usedBlocks {
        problems.append("\(sb.fsType.name): \(sb.usedBlocks) blocks counted, \(blocks) found")
      }
    }
    // The dcache agrees with the directories (read under the same lock;
    // entries added since the snapshot was taken are not judged).
    for (parentIno, name, inode) in dentries {
      guard let parent = seen[parentIno], parent.isDirectory else { continue }
      let actual = try? parent.ops.lookup(parent, name)
      let unchanged =
        dcache.lookupQuietly(parentIno: parentIno, name: name) == (inode?.ino ?? 0)
      if actual !== inode, unchanged {
        problems.append(
          "dcache: \(name) in dir \(parentIno) -> \(inode.map { "\($0.ino)" } ?? "negative"), directory says \(actual.map { "\($0.ino)" } ?? "absent")"
        )
      }
    }
    return problems
  }

  /// A directory's entries, through its own iterate (readdir) op.
  func entries(of dir: Inode) -> [(FileName, Inode)] {
    // The namespace lock is held by the caller; iterate may take it for
    // reading, which a write holder cannot: use the fs's raw listing.
    if let listing = dir.sb.ops.listDirectory(dir) { return listing }
    let file = File(inode: dir, flags: 0, cred: .root, fileOps: dir.fileOps)
    var out: [(FileName, Inode)] = []
    try? dir.fileOps.iterate(file, from: 0) { entry in
      if let inode = entry.inode { out.append((entry.name, inode)) }
      return true
    }
    return out
  }
}
