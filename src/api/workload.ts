// The API server's checks of a DaemonSet's pod template that bindery repeats for deploy/: selector vs labels, volumes, names.
import { LoadCode } from './decode.js';
import type { DaemonSet, FieldError } from './types.js';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Checks a DaemonSet as `kube-apiserver` validation would (apps/v1 `ValidateDaemonSet`, core
 * `ValidatePodTemplateSpec`), in the parts a CNI-installing DaemonSet uses: the selector must
 * be non-empty and match the template's labels, there is at least one container, container
 * and volume names are unique DNS labels, every volume mount names a volume and has an
 * absolute path, every hostPath is absolute. Messages follow the API server's wording.
 * @param ds - the decoded DaemonSet
 * @returns field errors (paths relative to the document)
 */
export function checkDaemonSet(ds: DaemonSet): FieldError[] {
  const errors: FieldError[] = [];
  const err = (path: string, message: string): void => {
    errors.push({ path, code: LoadCode.Workload, message });
  };
  const selector = ds.spec.selector?.matchLabels ?? {};
  const hasExpressions = ds.spec.selector?.extra?.['matchExpressions'] !== undefined;
  if (Object.keys(selector).length === 0 && !hasExpressions)
    err('spec.selector', 'empty selector is invalid for daemonset');
  const labels = ds.spec.template.metadata?.labels ?? {};
  if (Object.entries(selector).some(([k, v]) => labels[k] !== v))
    err('spec.template.metadata.labels', '`selector` does not match template `labels`');

  const pod = ds.spec.template.spec;
  const volumes = pod.volumes ?? [];
  const volumeNames = new Set<string>();
  volumes.forEach((v, i) => {
    const path = `spec.template.spec.volumes[${i}]`;
    if (!DNS_LABEL.test(v.name) || v.name.length > 63)
      err(
        `${path}.name`,
        `Invalid value: "${v.name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'`,
      );
    if (volumeNames.has(v.name)) err(`${path}.name`, `Duplicate value: "${v.name}"`);
    volumeNames.add(v.name);
    if (v.hostPath && !v.hostPath.path.startsWith('/'))
      err(`${path}.hostPath.path`, `Invalid value: "${v.hostPath.path}": must be an absolute path`);
  });

  const containers = pod.containers ?? [];
  if (containers.length === 0) err('spec.template.spec.containers', 'Required value');
  const containerNames = new Set<string>();
  const lists = [
    ['initContainers', pod.initContainers ?? []],
    ['containers', containers],
  ] as const;
  for (const [field, list] of lists)
    list.forEach((c, i) => {
      const path = `spec.template.spec.${field}[${i}]`;
      if (!DNS_LABEL.test(c.name) || c.name.length > 63)
        err(
          `${path}.name`,
          `Invalid value: "${c.name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'`,
        );
      if (containerNames.has(c.name)) err(`${path}.name`, `Duplicate value: "${c.name}"`);
      containerNames.add(c.name);
      if (!c.image) err(`${path}.image`, 'Required value');
      (c.volumeMounts ?? []).forEach((m, j) => {
        const mpath = `${path}.volumeMounts[${j}]`;
        if (!volumeNames.has(m.name)) err(`${mpath}.name`, `Not found: "${m.name}"`);
        if (!m.mountPath.startsWith('/'))
          err(`${mpath}.mountPath`, `Invalid value: "${m.mountPath}": must be an absolute path`);
      });
    });
  return errors;
}
