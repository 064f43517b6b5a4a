// TokenDialog: asks for the API token in the page's dialog#token-dialog.
// Every call that meets a 401 while it is open waits for the same answer.

import { required, setText, show } from './dom.js';

export class TokenDialog {
  /** @type {HTMLDialogElement} */
  #dialog;
  /** @type {HTMLInputElement} */
  #input;
  /** @type {HTMLElement} */
  #problem;
  /** @type {Promise<string | null> | null} */
  #pending = null;

  /** @param {HTMLDialogElement} dialog */
  constructor(dialog) {
    this.#dialog = dialog;
    this.#input = required(dialog, '#token-input', HTMLInputElement);
    this.#problem = required(dialog, '[data-role="token-problem"]', HTMLElement);
    const cancel = required(dialog, '[data-role="token-cancel"]', HTMLButtonElement);
    cancel.addEventListener('click', () => this.#dialog.close('cancel'));
  }

  /**
   * Opens the dialog (if it is not open) and resolves to the token given,
   * or null when the person cancels.
   * @param {'required' | 'rejected'} reason
   * @returns {Promise<string | null>}
   */
  ask(reason) {
    if (this.#pending) {
      return this.#pending;
    }
    setText(
      this.#problem,
      reason === 'rejected' ? 'The server did not accept that token. Check it and try again.' : '',
    );
    show(this.#problem, reason === 'rejected');
    this.#input.value = '';
    this.#dialog.returnValue = '';
    this.#pending = new Promise((resolve) => {
      const onClose = () => {
        this.#dialog.removeEventListener('close', onClose);
        const token = this.#dialog.returnValue === 'submit' ? this.#input.value.trim() : '';
        this.#input.value = '';
        this.#pending = null;
        resolve(token === '' ? null : token);
      };
      this.#dialog.addEventListener('close', onClose);
    });
    if (typeof this.#dialog.showModal === 'function') {
      this.#dialog.showModal();
    } else {
      this.#dialog.setAttribute('open', '');
    }
    this.#input.focus();
    return this.#pending;
  }
}
