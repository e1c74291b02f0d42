import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Setuid and setgid after a write-like change by a user other than root, side
/// by side with tmpfs. The kernel clears both for every such change (write,
/// truncate, O_TRUNC, fallocate, hole punch, copy_file_range): setuid always,
/// setgid with group execute or when the caller is not in the file's group
/// (should_remove_suid, setattr_should_drop_sgid). The FUSE kernel leaves the
/// non-member case, fallocate and O_TRUNC opens to the daemon.
final class PrivilegeKillTests: MountTestCase {
  /// Python dropping the fallocate cases on ext2: fs/ext2 has no fallocate
  /// (EOPNOTSUPP, as vfsmount's ext2), the ext4 driver serving -t ext2 here punches holes.
  static var withoutFallocate: String {
    testsOnExt2 ? "for k in ('fallocate', 'fallocate_keep_size', 'punch_hole'): del ops[k]" : ""
  }

  func testWriteLikeChangesClearSetuidAndSetgidAsTmpfs() throws {
    let script = """
      import os, sys, subprocess
      d = sys.argv[1]
      ops = {
        'write': "fd=os.open(p,os.O_WRONLY); os.pwrite(fd,b'x',0)",
        'truncate': "os.truncate(p, 1)",
        'ftruncate': "fd=os.open(p,os.O_WRONLY); os.ftruncate(fd, 9000)",
        'open_trunc': "os.open(p,os.O_WRONLY|os.O_TRUNC)",
        'fallocate': "fd=os.open(p,os.O_WRONLY); os.posix_fallocate(fd,0,16384)",
        'fallocate_keep_size': "import ctypes; fd=os.open(p,os.O_WRONLY); "
            "assert ctypes.CDLL(None,use_errno=True).fallocate(fd,1,0,16384)==0",
        'punch_hole': "import ctypes; fd=os.open(p,os.O_WRONLY); "
            "assert ctypes.CDLL(None,use_errno=True).fallocate(fd,3,0,4096)==0",
        'copy_file_range': "src=os.open(p+'.src',os.O_RDONLY); fd=os.open(p,os.O_WRONLY); "
            "os.copy_file_range(src,fd,4,0,0)",
      }
      \(Self.withoutFallocate)
      for name, code in ops.items():
        for gid in (0, 1000):  # not a member, then a member of the file's group
          for mode in (0o6666, 0o6676, 0o2666, 0o4666, 0o666):
            p = os.path.join(d, 'k_%s_%d_%o' % (name, gid, mode))
            with open(p, 'wb') as f: f.write(b'data' * 2048)
            with open(p + '.src', 'wb') as f: f.write(b'srcdata')
            os.chown(p, 0, gid); os.chmod(p, mode)
            r = subprocess.run(['setpriv', '--reuid=1000', '--regid=1000', '--clear-groups',
                '/usr/bin/python3', '-c', 'import os; p=%r; %s' % (p, code)], capture_output=True, text=True)
            print(name, 'gid', gid, oct(mode), '->', oct(os.stat(p).st_mode & 0o7777),
                'ok' if r.returncode == 0 else 'failed: ' + r.stderr.strip()[-200:])
      """
    for dir in [tmpfs.path, vfs.path] { XCTAssertEqual(chmod(dir, 0o1777), 0) }
    let outputs = stdoutOnBothSides("/usr/bin/python3", timeout: 120) { ["-c", script, $0] }
    let lines = outputs.map { $0.split(separator: "\n").map(String.init) }
    XCTAssertEqual(lines[0].count, testsOnExt2 ? 50 : 80, "every case ran on \(tmpfs.name)")
    XCTAssertTrue(lines[0].allSatisfy { $0.hasSuffix(" ok") }, outputs[0])
    // The man page's rule, on tmpfs: a non-member's write clears both bits.
    let rule = testsOnExt2 ? "write" : "fallocate"
    XCTAssertTrue(lines[0].contains("\(rule) gid 0 0o6666 -> 0o666 ok"), outputs[0])
    XCTAssertTrue(lines[0].contains("\(rule) gid 1000 0o2666 -> 0o2666 ok"), outputs[0])
    for (t, v) in zip(lines[0], lines[1]) {
      XCTAssertEqual(v, t, "vfsmount differs from \(tmpfs.name)")
    }
    XCTAssertEqual(lines[1].count, lines[0].count)
  }
}
