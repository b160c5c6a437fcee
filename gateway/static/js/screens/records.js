// Placeholder until this screen is built.
import { emptyBlock } from "../dom.js";

export function render(root) {
  root.append(emptyBlock("该功能即将开放"));
}
