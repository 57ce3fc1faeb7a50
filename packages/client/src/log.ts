/**
 * The one place that makes component loggers, for `@patina/client` and `@patina/node`.
 *
 * pino appends a child's bindings to its parent's, so `parent.child({ component: 'membership' })`
 * under a parent bound to `component: 'cluster'` writes the key twice
 * (`"component":"cluster",...,"component":"membership"`), which JSON tools read as the last one
 * only. {@link componentLogger} nests instead: a component logger made from another one binds
 * `component: 'cluster/membership'` on the logger the outer component was made from, with the
 * outer component's other bindings (`cluster: 'default'`) carried over, so every line has one
 * `component` key that names the whole path.
 */

/** What {@link componentLogger} needs of a logger: pino's `child` (and `bindings`, when it has one). */
export interface ChildLogger<L> {
  child(bindings: Record<string, unknown>): L
  bindings?(): Record<string, unknown>
}

interface ComponentOf<L> {
  /** The logger the component binding was added to (it has no `component` of its own). */
  base: L
  /** What was bound on `base`: `component` and the component's other bindings. */
  bindings: Record<string, unknown> & { component: string }
}

/** Loggers made by {@link componentLogger}, with how they were made (held weakly). */
const COMPONENTS = new WeakMap<object, ComponentOf<unknown>>()

/**
 * A child of `parent` for the component `name`, with `bindings` added. Under a component logger
 * the name nests (`cluster` → `cluster/membership`); a parent that has a `component` binding
 * made some other way keeps it, and the name goes under `subcomponent` (never a second
 * `component` key).
 */
export function componentLogger<L extends ChildLogger<L>>(
  parent: L,
  name: string,
  bindings: Record<string, unknown> = {},
): L {
  const outer = COMPONENTS.get(parent) as ComponentOf<L> | undefined
  if (outer !== undefined) {
    const { component: path, ...outerRest } = outer.bindings
    const nested = { component: `${path}/${name}`, ...outerRest, ...bindings }
    return remember(outer.base.child(nested), outer.base, nested)
  }
  if (typeof parent.bindings?.()['component'] === 'string')
    return parent.child({ ...bindings, subcomponent: name })
  const own = { component: name, ...bindings }
  return remember(parent.child(own), parent, own)
}

function remember<L>(child: L, base: L, bindings: ComponentOf<L>['bindings']): L {
  if (typeof child === 'object' && child !== null) COMPONENTS.set(child, { base, bindings })
  return child
}
