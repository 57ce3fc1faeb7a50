# The SQLite statement-deadline extension (native/deadline.c), built by node-gyp when the
# package is installed (npm and pnpm run `node-gyp rebuild` for a package with a binding.gyp
# and no install script). It is plain C against SQLite's extension header, taken from the
# better-sqlite3 package this package depends on, so the SQLite it is built against is the one
# it is loaded into; it uses no Node API, so one build serves every Node version.
{
  'targets': [
    {
      'target_name': 'patina_deadline',
      'type': 'loadable_module',
      'sources': ['native/deadline.c'],
      'include_dirs': [
        "<!(node -p \"require('path').join(require('path').dirname(require.resolve('better-sqlite3/package.json')), 'deps', 'sqlite3')\")",
      ],
      'cflags': ['-std=c99', '-O2', '-Wall', '-Wextra', '-D_GNU_SOURCE'],
      'xcode_settings': { 'OTHER_CFLAGS': ['-O2', '-Wall'] },
      'conditions': [
        ['OS=="linux"', { 'libraries': ['-lpthread', '-ldl'] }],
      ],
    },
  ],
}
