// A static single-page app: the API serves it and answers every path with index.html.
export const ssr = false;
export const prerender = false;
export const trailingSlash = 'never';
