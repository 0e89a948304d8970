// Package commerce is the scarce-inventory demo: products with stock of one
// to three, and two ways to sell them. The naive pages let everybody add
// the last unit to a cart and tell all but one at checkout that it is gone.
// The better pages show stock live to everyone, reserve a unit in a
// transaction when it is added to a cart, show its holder a countdown and
// everybody else a disabled button with the reason, and give the unit back
// everywhere when the reservation expires or the cart is emptied.
package commerce
