// Test-runner reporter for scripts/run-tests.mjs: one JSON line per finished test (suites left
// out, as in node's own summary), so the driver can count passes, failures and skips and name
// every skip with its reason.
export default async function* countsReporter(source) {
  for await (const ev of source) {
    if (ev.type !== 'test:pass' && ev.type !== 'test:fail') continue;
    const d = ev.data;
    if (d.details?.type === 'suite') continue;
    const skip = d.skip === undefined ? undefined : d.skip === true ? '' : String(d.skip);
    const todo = d.todo === undefined ? undefined : d.todo === true ? '' : String(d.todo);
    yield (
      JSON.stringify({
        outcome:
          ev.type === 'test:fail'
            ? 'failed'
            : skip !== undefined || todo !== undefined
              ? 'skipped'
              : 'passed',
        name: d.name,
        file: d.file,
        reason: skip ?? todo,
      }) + '\n'
    );
  }
}
