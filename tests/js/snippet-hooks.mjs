// Module resolution hook (see snippet.mjs): retry a bare specifier from this folder.
const HERE = new URL("./", import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    const bare = !/^(\.|\/|[a-z]+:)/.test(specifier);
    if (error?.code !== "ERR_MODULE_NOT_FOUND" || !bare) throw error;
    return nextResolve(specifier, { ...context, parentURL: HERE });
  }
}
