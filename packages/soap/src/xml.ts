// What a SOAP response's records are once streamed out of the XML: plain objects of text, nested objects and
// lists (repeated elements), null for xsi:nil. Public: the client's and the mapping's view of a record.
export type XmlValue = string | null | XmlObject | XmlValue[];
export interface XmlObject {
  [name: string]: XmlValue;
}
