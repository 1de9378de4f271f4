/** The OpenAPI 3.1 document's types (https://spec.openapis.org/oas/v3.1.0), as far as this API uses them. */
export type Schema = { [keyword: string]: unknown };

export interface Parameter {
  name: string;
  in: "query" | "path" | "header";
  required?: boolean;
  description: string;
  schema: Schema;
}

export interface MediaType {
  schema: Schema;
}

export interface Header {
  description: string;
  schema: Schema;
}

export interface Response {
  description: string;
  headers?: Record<string, Header | Ref>;
  content?: Record<string, MediaType>;
}

export interface Ref {
  $ref: string;
}

export type Role = "reader" | "writer" | "admin";

export interface Operation {
  operationId: string;
  tags: string[];
  summary: string;
  description?: string;
  /** The role the endpoint needs when the node has API keys (absent for health checks). */
  "x-stemedb-role"?: Role;
  /** Absent: the document's bearer requirement. `[]`: no key needed. */
  security?: Array<Record<string, string[]>>;
  parameters?: Array<Parameter | Ref>;
  requestBody?: { required: boolean; description?: string; content: Record<string, MediaType> };
  responses: Record<string, Response>;
}

export type Method = "get" | "post" | "delete";

export interface OpenApiDocument {
  openapi: "3.1.0";
  jsonSchemaDialect: string;
  info: { title: string; version: string; summary: string; description: string; license: { name: string; identifier: string } };
  servers: Array<{ url: string; description: string }>;
  tags: Array<{ name: string; description: string }>;
  security: Array<Record<string, string[]>>;
  paths: Record<string, Partial<Record<Method, Operation>>>;
  components: {
    schemas: Record<string, Schema>;
    parameters: Record<string, Parameter>;
    headers: Record<string, Header>;
    securitySchemes: Record<string, { type: "http"; scheme: "bearer"; description: string }>;
  };
}
