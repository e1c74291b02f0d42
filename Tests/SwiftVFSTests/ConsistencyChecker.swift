import SwiftVFS

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// An fsck for the memfs superblocks of a quiescent VFS: walks every directory
/// from each memfs root and checks the invariants the design states.
///
/// - each inode's nlink equals the entries naming it (directories: 2 plus
///   their subdirectories, and exactly one name);
/// - a directory's `parentDirectory` is the directory holding it, and every
///   directory reaches its superblock's root through parents (no cycles);
/// - no entry names an evicted inode or one of another superblock;
/// - a directory's index agrees with its slots, and its size is BOGO_DIRENT_SIZE
///   per entry plus two;
/// - st_blocks is 8 per stored page;
/// - the superblock's usedBlocks and usedInodes equal a recount over the
///   reachable inodes plus the orphans (unlinked inodes an open file keeps);
///   each extra name of a file is charged as an inode, as tmpfs does;
/// - an unlinked inode with no open file has been evicted (its storage freed
///   at once, as tmpfs frees it); an evicted inode may stay in the inode cache
///   while the kernel holds lookups on it, but is never open;
/// - every dcache entry under a live directory agrees with it (positive:
///   same inode; negative: no such name), and no positive entry sits under a
///   directory that is gone.
enum ConsistencyChecker {
  static func check(_ vfs: VFS) -> [String] {
    var problems: [String] = []
    var dirsByIno: [UInt64: Inode] = [:]

    for mount in vfs.mounts where mount.superBlock.fsType is MemfsType {
      let sb = mount.superBlock
      let root = sb.root
      var refs: [ObjectIdentifier: Int] = [:]
      var subdirs: [ObjectIdentifier: Int] = [:]
      var live: [ObjectIdentifier: Inode] = [ObjectIdentifier(root): root]
      var queue = [root]
      var seenDirs: Set<ObjectIdentifier> = [ObjectIdentifier(root)]
      while let dir = queue.popLast() {
        dirsByIno[dir.ino] = dir
        let d = Memfs.directory(dir)
        let entries = d.slots.compactMap { $0 }
        if entries.count != d.count {
          problems.append("dir \(dir.ino): \(entries.count) slots but \(d.count) indexed")
        }
        let size = dir.lock.withLock { dir.size }
        if size != Memfs.direntSize * Int64(entries.count + 2) {
          problems.append("dir \(dir.ino): size \(size) for \(entries.count) entries")
        }
        for entry in entries {
          let inode = entry.inode
          let id = ObjectIdentifier(inode)
          if d.lookup(entry.name) !== inode {
            problems.append("dir \(dir.ino): index of '\(entry.name)' disagrees with its slot")
          }
          if inode.sb !== sb {
            problems.append("dir \(dir.ino): '\(entry.name)' names an inode of another sb")
          }
          if vfs.icache.vtEvicted(inode) {
            problems.append("dir \(dir.ino): '\(entry.name)' names evicted inode \(inode.ino)")
          }
          refs[id, default: 0] += 1
          live[id] = inode
          if inode.isDirectory {
            subdirs[ObjectIdentifier(dir), default: 0] += 1
            if inode.parentDirectory !== dir {
              problems.append(
                "dir \(inode.ino) '\(entry.name)': parentDirectory is "
                  + "\(inode.parentDirectory.map { String($0.ino) } ?? "nil"), not \(dir.ino)")
            }
            if seenDirs.insert(id).inserted {
              queue.append(inode)
            } else {
              problems.append("dir \(inode.ino) has more than one name")
            }
          }
        }
      }

      // Orphans: unlinked inodes that an open file keeps (their storage
      // lives until the last close). An unlinked inode with no open file has
      // been evicted at once; the kernel's lookups only keep its number valid.
      for inode in vfs.icache.all where inode.sb === sb {
        let nlink = inode.lock.withLock { inode.nlink }
        let evicted = vfs.icache.vtEvicted(inode)
        let opens = vfs.icache.vtOpens(inode)
        let lookups = vfs.icache.vtLookups(inode)
        if lookups == 0 && opens == 0 {
          problems.append("inode cache holds inode \(inode.ino) that nothing holds")
        }
        if evicted {
          if opens > 0 { problems.append("evicted inode \(inode.ino) is open") }
          if nlink != 0 { problems.append("evicted inode \(inode.ino) has nlink \(nlink)") }
          continue
        }
        if nlink == 0 {
          if opens == 0 {
            problems.append("unlinked inode \(inode.ino) with no open file not evicted")
          }
          live[ObjectIdentifier(inode)] = inode
        }
      }

      var pages: UInt64 = 0
      for (id, inode) in live {
        let (nlink, blocks) = inode.lock.withLock { (inode.nlink, inode.blocks) }
        if inode.isDirectory {
          let isRoot = inode === root
          let want: UInt32 = nlink == 0 ? 0 : UInt32(2 + subdirs[id, default: 0])
          if nlink != want {
            problems.append("dir \(inode.ino): nlink \(nlink), want \(want)")
          }
          if !isRoot, nlink != 0, refs[id, default: 0] != 1 {
            problems.append("dir \(inode.ino): \(refs[id, default: 0]) names")
          }
          // Parents lead to the root, without a cycle.
          if nlink != 0 {
            var cur: Inode? = inode
            var steps = 0
            while let c = cur, c !== root, steps <= live.count {
              cur = c.parentDirectory
              steps += 1
            }
            if cur !== root { problems.append("dir \(inode.ino): parents do not reach the root") }
          }
        } else if nlink != UInt32(refs[id, default: 0]) {
          problems.append(
            "inode \(inode.ino): nlink \(nlink) but \(refs[id, default: 0]) entries")
        }
        if inode.type == .regular {
          let stored = inode.lock.withLock { Memfs.pages(inode).pageCount }
          pages += UInt64(stored)
          if blocks != Int64(stored) * 8 {
            problems.append("inode \(inode.ino): st_blocks \(blocks) for \(stored) pages")
          }
        }
      }
      // tmpfs (shmem_link) charges each extra name of a file against
      // nr_inodes: an inode costs max(nlink, 1), a directory 1.
      let charged = live.values.reduce(UInt64(0)) { sum, inode in
        let nlink = inode.lock.withLock { inode.nlink }
        return sum + (inode.isDirectory ? 1 : UInt64(max(nlink, 1)))
      }
      if sb.usedInodes != charged {
        problems.append("sb \(sb.id): usedInodes \(sb.usedInodes), recount \(charged)")
      }
      if sb.usedBlocks != pages {
        problems.append("sb \(sb.id): usedBlocks \(sb.usedBlocks), recount \(pages)")
      }
    }

    // The dcache agrees with the directories.
    for (parentIno, name, inode) in vfs.dcache.allEntries() where parentIno != 0 {
      guard let dir = dirsByIno[parentIno] else {
        if let inode, inode.sb.fsType is MemfsType {
          problems.append("dcache: positive '\(name)' under a directory \(parentIno) that is gone")
        }
        continue
      }
      let actual = Memfs.directory(dir).lookup(name)
      if actual !== inode {
        problems.append(
          "dcache: '\(name)' in dir \(parentIno) -> \(inode.map { String($0.ino) } ?? "negative"), "
            + "directory says \(actual.map { String($0.ino) } ?? "none")")
      }
    }
    return problems
  }
}

extension InodeCache {
  func vtEvicted(_ inode: Inode) -> Bool { inode.evicted }
  func vtHeld(_ inode: Inode) -> Bool { inode.lookupCount > 0 || inode.openCount > 0 }
  func vtLookups(_ inode: Inode) -> UInt64 { inode.lookupCount }
  func vtOpens(_ inode: Inode) -> Int { inode.openCount }
}
