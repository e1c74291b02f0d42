import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// What a listing shows while its directory changes, side by side with tmpfs.
/// tmpfs shows every entry that stays put exactly once; an entry renamed or
/// created during the listing is not shown (its dentry moves behind the
/// cursor), so it may be missed but is never listed twice. vfsmount once
/// listed a renamed entry under its old name and again under its new one
/// (15,001 names for 15,000 files).
final class ReaddirDuringRenameTests: MountTestCase {
  /// Runs `script` with the directory as argument on tmpfs, then on vfsmount.
  private func both(_ script: String) -> [String] {
    [tmpfs.path, vfs.path].map { mount in
      let r = runCommand("/usr/bin/python3", ["-c", script, mount + "/rd"], timeout: 120)
      XCTAssertEqual(r.status, 0, "\(mount): \(r.stderr.suffix(2000))")
      return r.stdout
    }
  }

  /// The exact case: a listing half read, then one entry ahead of it renamed
  /// and one created. Neither the old name, the new name nor the new entry
  /// is listed; every other entry is, once.
  func testEntriesRenamedOrCreatedAheadOfAListingAreNotListed() throws {
    let script = """
      import os, sys, collections
      d = sys.argv[1]
      os.mkdir(d)
      n = 5000
      for i in range(n):
          open(os.path.join(d, 'e%05d' % i), 'w').close()
      it = os.scandir(d)
      first = next(it).name                    # the first batch is read now
      # The name listed last: tmpfs lists the newest entry first, memfs the oldest.
      last = 'e%05d' % (0 if first == 'e%05d' % (n - 1) else n - 1)
      os.rename(os.path.join(d, last), os.path.join(d, 'moved'))
      open(os.path.join(d, 'created'), 'w').close()
      names = [first] + [e.name for e in it]
      c = collections.Counter(names)
      print('listed', len(names), 'twice', sum(1 for v in c.values() if v > 1),
            'old', c[last], 'new', c['moved'], 'created', c['created'])
      """
    let out = both(script)
    guard testsOnExt2 else {
      // tmpfs's cursor skips what lands ahead of it.
      XCTAssertEqual(out[0], "listed 4999 twice 0 old 0 new 0 created 0\n", "tmpfs")
      XCTAssertEqual(out[1], out[0], "vfsmount")
      return
    }
    // ext2 lists by offset in its blocks (fs/ext2's linear ext2_readdir()):
    // the new name goes after the old one in the last block, ahead of the
    // cursor, and the created one into the old one's place.
    XCTAssertEqual(out[1], "listed 5001 twice 0 old 0 new 1 created 1\n", "vfsmount")
    // The kernel's reference here is the ext4 driver, which lists an indexed
    // directory in hash order under the image's random hash seed: which of
    // the three names it shows changes from image to image (seen: old and
    // new both, or neither). POSIX leaves them unspecified; what holds is
    // that every other entry is listed once.
    let f = out[0].split(separator: " ").compactMap {
      Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
    }
    XCTAssertEqual(f.count, 5, out[0])
    if f.count == 5 {
      XCTAssertEqual(f[1], 0, "kernel ext2 listed a name twice: \(out[0])")
      XCTAssertEqual(f[0] - f[2] - f[3] - f[4], 4999, "kernel ext2: \(out[0])")
    }
  }

  /// The reported case: 15,000 entries renamed one by one while they are
  /// listed. No name is listed twice, no entry under both names, and no
  /// more than 15,000 names in all. Only vfsmount is held to it: tmpfs on
  /// Linux 6.18 was seen here to list 12,111 names twice in one such listing
  /// (its cursor walks d_children, where every rename moves a dentry).
  func testListingWhileEveryEntryIsRenamedNeverShowsOneTwice() throws {
    let script = """
      import os, sys, threading, collections
      d = sys.argv[1]
      os.mkdir(d)
      n = 15000
      for i in range(n):
          open(os.path.join(d, 'e%05d' % i), 'w').close()
      listings = []
      def lister():
          for _ in range(3):
              listings.append([e.name for e in os.scandir(d)])
      t = threading.Thread(target=lister)
      t.start()
      for i in range(n):
          os.rename(os.path.join(d, 'e%05d' % i), os.path.join(d, 'f%05d' % i))
      t.join()
      for names in listings:
          c = collections.Counter(names)
          both = sum(1 for i in range(n) if 'e%05d' % i in c and 'f%05d' % i in c)
          print('at most n', len(names) <= n, 'twice', sum(1 for v in c.values() if v > 1),
                'under both names', both)
      """
    let r = runCommand("/usr/bin/python3", ["-c", script, vfs.path + "/rd"], timeout: 120)
    XCTAssertEqual(r.status, 0, r.stderr.suffix(2000).description)
    XCTAssertEqual(
      r.stdout, String(repeating: "at most n True twice 0 under both names 0\n", count: 3))
  }
}
